//! HAR 1.2 recordings.
