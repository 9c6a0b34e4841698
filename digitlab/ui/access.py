"""Who is looking: the owner of this deployment, or a visitor.

Placeholder until the owner/visitor sign-in lands: everyone is treated as the owner.
"""


def viewer_is_owner() -> bool:
    """Whether the person using this session owns the deployment (may delete anything, has no visitor limits)."""
    return True  # the lead replaces this with the real check
