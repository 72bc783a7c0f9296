"""Per-step cost of each regularizer relative to 'none' on simple_cnn, batch 256, CPU, in one process with the
regularizers interleaved in each repeat.

What is timed: a whole training step as a user lives it, through `make_learner` (the kit's callbacks
included): from one batch to the next, that is drawing the batch, the forward pass, the loss and penalty,
the backward pass, the optimizer step and every callback; the median over the steps of a run, then the
median over the repeats. Validation is not timed.

Targets: the Jacobian penalty at its default (and every mode and share of the batch, reported) <= 2.0x,
hard_svb amortized <= 1.10x, the other penalties <= 1.3x.

    python bench/reg_cost.py [--steps 100] [--repeats 3]
"""
import argparse, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result
from regx_nb.regularizers import get_regularizer
from regx_nb.training import step_cost

# every variant measured for the default (lesson 03); the default itself, mode=forward,frac=0.25, is 'jacobian'
JACOBIANS = ['jacobian:mode=reverse,frac=1.0', 'jacobian:mode=forward,frac=1.0', 'jacobian:mode=reverse,frac=0.5',
             'jacobian:mode=reverse,frac=0.25', 'jacobian:mode=reverse,frac=0.125']
REGS = ['l1', 'l2', 'weight_decay', 'elastic', 'soft_svb', 'hard_svb', 'jacobian', 'confidence_penalty',
        'label_smoothing', 'input_noise', 'weight_noise', 'dropout', 'batchnorm'] + JACOBIANS
LIMITS = {'jacobian': 2.0, 'hard_svb': 1.10}

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--steps', type=int, default=100, help='timed steps per run (hard_svb projects every 50)')
    ap.add_argument('--repeats', type=int, default=3); ap.add_argument('--bs', type=int, default=256)
    a = ap.parse_args()
    df = step_cost(REGS, bs=a.bs, n_steps=a.steps, warmup=5, repeats=a.repeats, device='cpu')
    df['limit'] = [LIMITS.get(r, 1.3) if r != 'none' and not r.startswith('jacobian(') else None for r in df.index]
    # dropout and batch norm change the model itself, and the Jacobian variants other than the default are reported only
    df['checked'] = [r not in ('none', 'dropout', 'batchnorm') and not r.startswith('jacobian(') for r in df.index]
    df['ok'] = [(not c) or (v <= l) for v, l, c in zip(df.ratio, df.limit, df.checked)]
    print(df.round(3).to_string())
    print(f"the default 'jacobian' is {get_regularizer('jacobian')!r}")
    passed = bool(df.ok.all())
    print('all within their limits' if passed else 'OVER THE LIMIT: ' + ', '.join(df.index[~df.ok]))
    write_result('reg_cost', dict(bs=a.bs, steps=a.steps, repeats=a.repeats, timed='a whole training step through make_learner, batch to batch',
                                  jacobian_default=get_regularizer('jacobian').params, table=df.reset_index().to_dict('records'), passed=passed))

if __name__ == '__main__': main()
