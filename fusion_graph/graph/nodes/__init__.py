"""The nodes of the fusion graph: members, gather and judge."""
