"""The service's status strings, grouped as the engine's rules use them [personalize-api.md §1.2]."""

CREATING = ("CREATE PENDING", "CREATE IN_PROGRESS")
DELETING = ("DELETE PENDING", "DELETE IN_PROGRESS")
# The only states from which the service accepts a delete [DG:deleting-resources].
DELETABLE = ("ACTIVE", "CREATE FAILED", "CREATE STOPPED")
