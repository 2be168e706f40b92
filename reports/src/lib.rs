//! Consumers of the engine's results and events. Reporters never run checks.
