//! `client-output-buffer-limit`: per client class (normal, replica, pubsub), a hard limit
//! on the replies a client has not read, and a soft limit it may stay over for a number of
//! seconds. The value is `class hard soft seconds` quadruples; a class not named keeps its
//! limits. Sizes take memory units (`1mb`), as Redis's `memtoull` reads them.
//!
//! Where they are enforced, as Redis's `checkClientOutputBufferLimits` is called when
//! replies are added: after each command of a batch, a client whose unwritten replies
//! (beyond the fixed 16 KiB reply buffer) pass its class's hard limit is closed without any
//! of the batch's replies (`dispatch::run_batch`); a subscriber or monitor is closed when a
//! message pushed to it finds its backlog over the hard limit, or over the soft one for
//! longer than its seconds (`pubsub::deliver`). One difference: a client that does not
//! read its replies makes lockstep stop reading its commands until they are written (TCP
//! back-pressure), so its replies never pile up past one batch, where Redis reads on and
//! closes it once they pass the limits.

use super::parse_memory;

/// One class's limits (0: none).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct OutputLimit {
    pub hard: u64,
    pub soft: u64,
    pub soft_seconds: u64,
}

impl OutputLimit {
    pub fn is_set(&self) -> bool {
        self.hard != 0 || self.soft != 0
    }
}

/// The limits of the three classes Redis applies them to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputLimits {
    pub normal: OutputLimit,
    /// Replicas, and monitors (Redis's replica-type clients).
    pub replica: OutputLimit,
    /// Clients subscribed to a channel, pattern or shard channel.
    pub pubsub: OutputLimit,
}

impl Default for OutputLimits {
    fn default() -> OutputLimits {
        let limit = |hard, soft, soft_seconds| OutputLimit {
            hard,
            soft,
            soft_seconds,
        };
        OutputLimits {
            normal: limit(0, 0, 0),
            replica: limit(256 << 20, 64 << 20, 60),
            pubsub: limit(32 << 20, 8 << 20, 60),
        }
    }
}

const WRONG_COUNT: &str = "Wrong number of arguments in buffer limit configuration.";
const BAD_CLASS: &str = "Invalid client class specified in buffer limit configuration.";
const BAD_NUMBER: &str =
    "Error in hard, soft or soft_seconds setting in buffer limit configuration.";

impl OutputLimits {
    /// The limits after applying `value`, or Redis's error for it. Every quadruple is
    /// checked before any is applied.
    pub fn with(&self, value: &str) -> Result<OutputLimits, &'static str> {
        let words: Vec<&str> = value.split_ascii_whitespace().collect();
        if !words.len().is_multiple_of(4) {
            return Err(WRONG_COUNT);
        }
        let mut next = *self;
        let mut changes = Vec::new();
        for quad in words.chunks(4) {
            let class = match quad[0].to_ascii_lowercase().as_str() {
                "normal" => 0,
                "slave" | "replica" => 1,
                "pubsub" => 2,
                _ => return Err(BAD_CLASS),
            };
            let number = |w: &str| parse_memory(w.as_bytes()).ok_or(BAD_NUMBER);
            let limit = OutputLimit {
                hard: number(quad[1])?,
                soft: number(quad[2])?,
                soft_seconds: number(quad[3])?,
            };
            changes.push((class, limit));
        }
        for (class, limit) in changes {
            *match class {
                0 => &mut next.normal,
                1 => &mut next.replica,
                _ => &mut next.pubsub,
            } = limit;
        }
        Ok(next)
    }

    /// The limits of a client's class: monitors are replica-type clients in Redis, clients
    /// subscribed to anything are pub/sub clients, the others normal ones.
    pub fn for_client(&self, monitor: bool, subscribed: bool) -> OutputLimit {
        if monitor {
            self.replica
        } else if subscribed {
            self.pubsub
        } else {
            self.normal
        }
    }

    /// CONFIG GET's text: every class, in Redis's order and names.
    pub fn text(&self) -> String {
        let one = |name: &str, l: &OutputLimit| {
            format!("{name} {} {} {}", l.hard, l.soft, l.soft_seconds)
        };
        [
            one("normal", &self.normal),
            one("slave", &self.replica),
            one("pubsub", &self.pubsub),
        ]
        .join(" ")
    }
}

/// Whether output of `pending` bytes has passed `limit`, given since when it has been
/// over the soft limit (updated here), as Redis's `checkClientOutputBufferLimits`
/// decides: over the hard limit at once; over the soft one once that has lasted more than
/// its seconds (whole seconds, as Redis counts them), never when first seen.
pub fn reached(
    limit: &OutputLimit,
    pending: u64,
    soft_since: &mut Option<std::time::Instant>,
    now: std::time::Instant,
) -> bool {
    if limit.hard != 0 && pending >= limit.hard {
        return true;
    }
    if limit.soft != 0 && pending >= limit.soft {
        match soft_since {
            None => {
                *soft_since = Some(now);
                false
            }
            Some(since) => now.duration_since(*since).as_secs() > limit.soft_seconds,
        }
    } else {
        *soft_since = None;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quadruples_change_only_their_class_and_read_back_in_redis_order() {
        let limits = OutputLimits::default()
            .with("normal 1mb 512kb 10")
            .expect("valid");
        assert_eq!(
            limits.text(),
            "normal 1048576 524288 10 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        );
        let limits = limits.with("pubsub 0 0 0 replica 1 2 3").expect("valid");
        assert_eq!(
            limits.text(),
            "normal 1048576 524288 10 slave 1 2 3 pubsub 0 0 0"
        );
        assert_eq!(limits.with("").expect("valid"), limits);
        assert_eq!(limits.with("NORMAL 5 5 5").expect("valid").normal.hard, 5);
    }

    #[test]
    fn bad_values_are_refused_whole_with_redis_errors() {
        let limits = OutputLimits::default();
        assert_eq!(limits.with("master 1 1 1"), Err(BAD_CLASS));
        assert_eq!(limits.with("normal 1 1"), Err(WRONG_COUNT));
        assert_eq!(limits.with("normal -1 1 1"), Err(BAD_NUMBER));
        assert_eq!(limits.with("normal 1 1 1.5"), Err(BAD_NUMBER));
        assert_eq!(limits.with("normal 1 1 1 bogus 1 1 1"), Err(BAD_CLASS));
    }

    #[test]
    fn soft_limit_needs_to_last_longer_than_its_seconds() {
        let limit = OutputLimit {
            hard: 0,
            soft: 100,
            soft_seconds: 1,
        };
        let t0 = std::time::Instant::now();
        let mut since = None;
        assert!(!reached(&limit, 150, &mut since, t0));
        assert!(!reached(
            &limit,
            150,
            &mut since,
            t0 + std::time::Duration::from_millis(1500)
        ));
        assert!(reached(
            &limit,
            150,
            &mut since,
            t0 + std::time::Duration::from_secs(2)
        ));
        assert!(!reached(
            &limit,
            50,
            &mut since,
            t0 + std::time::Duration::from_secs(3)
        ));
        assert_eq!(since, None);
    }
}
