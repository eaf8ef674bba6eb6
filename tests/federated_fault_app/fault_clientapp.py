"""The shipped ClientApp (mcuforge.federated.clientapp) with a fault drill: a SuperNode whose node
config has ``kill-round=R kill-at-step=K`` kills its board's emulator before training step K of
round R, once (the client must open a fresh board and redo the round from the same global head)."""
from __future__ import annotations

from flwr.app import Context, Message
from flwr.clientapp import ClientApp

from mcuforge.federated import clientapp as shipped
from mcuforge.federated.messages import CONFIG

app = ClientApp()
app.query()(shipped.initial_head)
app.evaluate()(shipped.evaluate)


@app.train()
def train(msg: Message, context: Context) -> Message:
    nc = context.node_config
    armed = int(nc.get("kill-round", 0)) == int(msg.content[CONFIG]["round"])
    at, fired = int(nc.get("kill-at-step", 0)), []

    def drill(conn, step: int) -> None:
        if armed and step == at and not fired:
            fired.append(step)
            conn.session.proc.kill()

    return shipped.train_reply(msg, context, on_step=drill)
