"""The plan: the steps a run takes (`steps`), the Builder that makes them, and the planners for
a meeting server, a bridge host, certificates and the firewall. Pure: nothing here touches the
host; apply/ carries a plan out."""
