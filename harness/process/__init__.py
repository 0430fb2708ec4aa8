"""The process boundary: job protocol, implementations, runner, launcher and monitor."""
