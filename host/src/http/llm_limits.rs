//! Per-user limits on LLM spend: on a route whose component holds the `llm`
//! grant, each user may start so many requests a minute and run so many at
//! once (429 `rate_limited` with `Retry-After` beyond), so one account cannot
//! spend the whole Space's quota.

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The limits and what each user has in flight.
pub struct LlmLimits {
    rate: DefaultKeyedRateLimiter<String>,
    concurrent: u32,
    running: Arc<Mutex<HashMap<String, u32>>>,
    checks: std::sync::atomic::AtomicU64,
}

/// One running request of a user; dropping it (when the instance ends) frees its place.
pub struct Running {
    user: String,
    running: Arc<Mutex<HashMap<String, u32>>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(mut map) = self.running.lock()
            && let Some(n) = map.get_mut(&self.user)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.user);
            }
        }
    }
}

/// Why a user's request was refused, and when to retry.
pub enum Refused {
    Rate(Duration),
    Concurrent(u32),
}

impl LlmLimits {
    pub fn new(per_minute: NonZeroU32, concurrent: u32) -> Self {
        Self {
            rate: RateLimiter::keyed(Quota::per_minute(per_minute)),
            concurrent: concurrent.max(1),
            running: Arc::default(),
            checks: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Room for one more LLM request of `user`.
    pub fn admit(&self, user: &str) -> Result<Running, Refused> {
        // Forget idle users now and then, so the limiter's memory stays bounded.
        let n = self
            .checks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if n % 1024 == 1023 {
            self.rate.retain_recent();
            self.rate.shrink_to_fit();
        }
        let mut map = self
            .running
            .lock()
            .map_err(|_| Refused::Concurrent(self.concurrent))?;
        let now = map.get(user).copied().unwrap_or(0);
        if now >= self.concurrent {
            return Err(Refused::Concurrent(self.concurrent));
        }
        self.rate
            .check_key(&user.to_string())
            .map_err(|not_until| {
                Refused::Rate(not_until.wait_time_from(governor::clock::Clock::now(
                    &governor::clock::DefaultClock::default(),
                )))
            })?;
        map.insert(user.to_string(), now + 1);
        Ok(Running {
            user: user.to_string(),
            running: self.running.clone(),
        })
    }
}
