"""envoyproxy/ratelimit's model: configs per domain (`config`), rule lookup and cache keys (`matching`),
and the per-request decision from counter values (`decision`)."""
