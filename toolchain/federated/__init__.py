"""Federated continual learning on Flower: each board a Flower client, the server aggregates heads.

- ``aggregate``: FedAvg and per-class (CWR-style) consolidation of the boards' head checkpoints;
- ``board``: one round's work on one board over its serial link (load the global head, replay the
  board's own embeddings, read the learned head back, evaluate);
- ``clientapp`` / ``serverapp``: the Flower ClientApp and ServerApp (Message API);
- ``deploy``: a SuperLink and one SuperNode per board on loopback, started and stopped cleanly;
- ``twin``: the same protocol on the host's numpy twin of the head, for sweeps over many draws."""
