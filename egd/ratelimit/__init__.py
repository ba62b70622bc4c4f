"""egd's own `envoy.service.ratelimit.v3.RateLimitService`: answers Envoy's ratelimit filter from the current
rate-limit configs, counting in memory or in Redis (shared by replicas)."""
