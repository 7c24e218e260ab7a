//! The lockstep Redis client. (The connection state machine arrives with its issue.)
