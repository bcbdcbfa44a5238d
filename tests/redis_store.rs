//! Placeholder: the RedisStore tests.
