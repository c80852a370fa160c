from tests.webhooks.support import forget_endpoints, receiver

__all__ = ["forget_endpoints", "receiver"]
