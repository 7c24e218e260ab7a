//! Streams: entries with ids, packed in nodes, and their consumer groups.
pub use placeholder::StreamValue;

mod placeholder {
    #[derive(Clone, Debug, PartialEq, Default)]
    pub struct StreamValue {
        len: u64,
    }

    impl StreamValue {
        pub fn len(&self) -> u64 {
            self.len
        }
        pub fn memory_usage(&self) -> usize {
            64
        }
    }
}
