"""Train the chapter 5 toy transformer (sort short digit sequences) in torch and write its
weights for labutils:

    .venv/bin/python tools/train_toy_transformer.py [--steps N] [--out PATH]

The torch model below has exactly the parameter names of
labutils.lab.toy_transformer.Seq2SeqTransformer, so the labutils model loads the file with
load_state_dict; tests/test_attention_toy.py re-checks
the stored weights (labutils and torch agree on them, and the model still sorts). Training
is seeded and single-threaded; it takes about a minute on one CPU core.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labutils.lab.toy_transformer import TOY_WEIGHTS, make_toy_batch  # noqa: E402
from labutils.nn.positional import sinusoidal_encoding  # noqa: E402

CONFIG = dict(task="sort", length=8, num_digits=10, bos=10, vocab_size=11, d_model=32, nhead=2,
              num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=64, max_len=16)


class TorchSeq2Seq(torch.nn.Module):
    """torch twin of labutils.lab.toy_transformer.Seq2SeqTransformer (same names, same
    computation)."""

    def __init__(self, vocab_size, d_model, nhead, num_encoder_layers, num_decoder_layers,
                 dim_feedforward, max_len, **_):
        super().__init__()
        nn = torch.nn
        self.src_embed = nn.Embedding(vocab_size, d_model)
        self.tgt_embed = nn.Embedding(vocab_size, d_model)
        self.encoder = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, 0.0, batch_first=True),
            num_encoder_layers, enable_nested_tensor=False)
        self.decoder = nn.TransformerDecoder(
            nn.TransformerDecoderLayer(d_model, nhead, dim_feedforward, 0.0, batch_first=True),
            num_decoder_layers)
        self.generator = nn.Linear(d_model, vocab_size)
        self.register_buffer("pe", torch.from_numpy(sinusoidal_encoding(max_len, d_model)),
                             persistent=False)

    def forward(self, src, tgt_in):
        x = self.src_embed(src)
        memory = self.encoder(x + self.pe[:src.shape[1]].to(x.dtype))
        T = tgt_in.shape[1]
        mask = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)
        y = self.tgt_embed(tgt_in)
        y = self.decoder(y + self.pe[:T].to(y.dtype), memory, tgt_mask=mask)
        return self.generator(y)


def snapshot(model):
    return {k: v.detach().numpy().astype(np.float32).copy() for k, v in model.state_dict().items()}


def train(steps=1500, batch=128, lr=3e-3, seed=0, early_step=120, log=print):
    """Returns the trained model and a snapshot of its weights after ``early_step`` steps
    (a half-trained model, on which greedy and beam search disagree more often)."""
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    model = TorchSeq2Seq(**CONFIG)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    for step in range(steps):
        src, tgt_in, tgt = (torch.from_numpy(a) for a in
                            make_toy_batch(rng, batch, CONFIG["length"], CONFIG["task"]))
        logits = model(src, tgt_in)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, CONFIG["vocab_size"]),
                                                 tgt.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step + 1 == early_step:
            early = snapshot(model)
        if step % 250 == 0 or step == steps - 1:
            acc = (logits.argmax(-1) == tgt).float().mean().item()
            log(f"step {step:5d}  loss {loss.item():.4f}  token accuracy (teacher forcing) {acc:.3f}")
    return model, early


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--out", default=str(ROOT / "labutils" / "data" / TOY_WEIGHTS))
    args = p.parse_args()
    start = time.perf_counter()
    model, early = train(args.steps)
    state = snapshot(model) | {f"early.{k}": v for k, v in early.items()}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, config=np.array(json.dumps(CONFIG)), **state)
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB) in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
