//! Shared by the test files that start their own processes.

/// A child process that is killed (and reaped) when the test ends, even on panic.
pub struct Running(pub std::process::Child);

impl Running {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        // SIGKILL cannot be caught or ignored, so this wait returns promptly.
        let _ = self.0.wait();
    }
}
