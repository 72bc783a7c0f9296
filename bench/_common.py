"Shared helpers of the benchmarks: machine description and writing one JSON result per benchmark."
import json, os, platform, time
from pathlib import Path
import torch

RESULTS = Path(__file__).resolve().parent / 'results'

def machine() -> dict:
    return dict(python=platform.python_version(), torch=torch.__version__, threads=torch.get_num_threads(),
                cpu_count=os.cpu_count(), cuda=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                date=time.strftime('%Y-%m-%d %H:%M'))

def write_result(name: str, result: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    p = RESULTS / f'{name}.json'
    tmp = p.with_suffix('.json.tmp')
    tmp.write_text(json.dumps({**result, 'machine': machine()}, indent=2, default=float))
    os.replace(tmp, p)
    print(f'wrote {p}')
    return p
