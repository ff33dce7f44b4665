"""The plan: the steps a run takes (`steps`), the Builder that makes every one of them, and the
planners for a meeting server (`meeting`), a bridge host (`bridge`), certificates (`certs`),
the firewall (`firewall`), the videobridge's NAT mapping (`nat`) and the main host's `bridge
add` and `bridge remove` (`bridges`). Pure: nothing here touches the host; apply/ carries a
plan out."""
