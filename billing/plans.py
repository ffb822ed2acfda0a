"""Plans and what each one entitles a workspace to.

`entitlements(workspace)` is the single answer to "what may this workspace do": the
monthly quota, the styles, the resolution, the queue priority and the retention.
Generation, the portal and the API all ask it.
"""

from dataclasses import dataclass


class Tier:
    FREE = "free"
    PREMIUM = "premium"


@dataclass(frozen=True)
class Entitlements:
    plan: str
    monthly_quota: int
    style_tiers: frozenset[str]
    resolution: int
    # Lower runs first on the GPU queue.
    queue_priority: int
    retention_days: int

    def allows_style_tier(self, tier: str) -> bool:
        return tier in self.style_tiers

    def as_dict(self) -> dict:
        return {
            "plan": self.plan,
            "monthly_quota": self.monthly_quota,
            "style_tiers": sorted(self.style_tiers),
            "resolution": self.resolution,
            "queue_priority": self.queue_priority,
            "retention_days": self.retention_days,
        }


FREE = Entitlements(
    plan="free",
    monthly_quota=8,
    style_tiers=frozenset({Tier.FREE}),
    resolution=1024,
    queue_priority=1,
    retention_days=7,
)


def entitlements(workspace) -> Entitlements:
    return FREE
