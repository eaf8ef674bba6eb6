"""Shared pieces of the learning tests (no tests here): a synthetic keyword-like embedding
task, a firmware whose "model" copies its float32 input to its float32 output, so the
host chooses the embedding the board's head learns from (WRITE_INPUT, INVOKE, TRAIN), and the
host side of a BNN session's checks (a board checkpoint as a numpy head, accuracies)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from conftest import make_fake_project
from mcuforge.learning.config import render_head_config

DIM = 128
MAX_CLASSES = 16
PRETRAINED = 12
DEFAULTS = {"rule": "tinyol", "lr": 0.05, "batch": 4}

# The stand-in backbone: output 0 = input 0, both float32 [DIM] in one static arena.
IDENTITY_MODEL_C = r"""
#include <string.h>

#include "mf_build_id.h"
#include "mf_profile.h"
#include "model.h"

#define EMB_DIM %(dim)du

MF_ARENA_DEFINE(8u * EMB_DIM);
#define EMB_IN ((float *)mf_arena.bytes)
#define EMB_OUT (EMB_IN + EMB_DIM)

const mf_io mf_model_inputs[] = {{EMB_IN, 4u * EMB_DIM, MF_DTYPE_FLOAT32}};
const uint32_t mf_model_num_inputs = 1;
const mf_io mf_model_outputs[] = {{EMB_OUT, 4u * EMB_DIM, MF_DTYPE_FLOAT32}};
const uint32_t mf_model_num_outputs = 1;
const uint32_t mf_model_num_layers = 1;
uint32_t mf_layer_cycles[1];
const char *const mf_layer_ops[] = {"COPY"};
const uint32_t mf_arena_bytes = sizeof(mf_arena.bytes);
const char mf_model_name[] = "identity_embedding";
const char mf_firmware_hash[] = MF_BUILD_ID;

int mf_model_invoke(void)
{
    MF_LAYER_BEGIN(0);
    memcpy(EMB_OUT, EMB_IN, 4u * EMB_DIM);
    MF_LAYER_END(0);
    return 0;
}
"""


class Task:
    """Classes with distinct non-negative mean embeddings (like pooled ReLU features); the
    pretrained head is a nearest-mean classifier of the first PRETRAINED classes."""

    def __init__(self, seed: int = 0, classes: int = MAX_CLASSES, dim: int = DIM):
        rng = np.random.default_rng(seed)
        self.rng = rng
        self.dim = dim
        self.means = np.maximum(rng.normal(0.4, 0.6, (classes, dim)), 0).astype(np.float32)
        mu = self.means[:PRETRAINED]
        self.w_init = (0.5 * mu).astype(np.float32)
        self.b_init = (-0.25 * (mu * mu).sum(1)).astype(np.float32)

    def samples(self, labels, noise: float = 0.35) -> np.ndarray:
        labels = np.asarray(labels)
        x = self.means[labels] + self.rng.normal(0, noise, (len(labels), self.dim))
        return np.maximum(x, 0).astype(np.float32)


def build_learning_firmware(board: str, dest: Path, task: Task, build_id: str,
                            defaults=DEFAULTS, max_classes: int = MAX_CLASSES):
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "mf_head_config.h").write_text(
        render_head_config(task.w_init, task.b_init, max_classes, defaults))
    return make_fake_project(board, dest, build_id=build_id, extensions=["learning"],
                             model_c=IDENTITY_MODEL_C % {"dim": task.dim})


def head_of(model, blob: bytes):
    """The numpy head holding a board's checkpoint blob."""
    from mcuforge.learning.checkpoint import HeadState
    from mcuforge.learning.rules import Head
    from mcuforge.model.keras_bnn import load_bnn_keras

    _, meta = load_bnn_keras(model)
    return Head.from_state(HeadState.from_bytes(blob), meta["head_W"], meta["head_b"])


def predictions(head, embeddings) -> np.ndarray:
    return np.array([head.logits(e)[1] for e in embeddings])


def accuracies(pred, labels, pretrained: int) -> dict:
    ok, old = pred == labels, labels < pretrained
    return {"accuracy_all": float(ok.mean()), "accuracy_old": float(ok[old].mean()),
            "accuracy_new": float(ok[~old].mean())}
