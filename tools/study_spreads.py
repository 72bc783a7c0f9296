"""Write the seed spreads of a finished study (per measure and configuration) to tests/data/study_spreads.json, for the
calibration test. Usage: python tools/study_spreads.py [STUDY_DIR]  (default: study, the folder `make study` writes)."""
import json, sys
from pathlib import Path
from regx_nb.study import run_study

out = Path(sys.argv[1] if len(sys.argv) > 1 else 'study')
if not (out/'runs').is_dir(): sys.exit(f"{out}/runs does not exist: run `make study` first")
st = run_study(out, progress=False)  # (finished: trains and measures nothing, reads what the runs keep)
sd = st.calibration_spreads()  # (what the report's calibration simulates)
regs = list(sd.columns)
dest = Path(__file__).parent.parent/'tests'/'data'/'study_spreads.json'
dest.parent.mkdir(exist_ok=True)
dest.write_text(json.dumps(dict(measures=list(sd.index), configurations=regs, pooled=bool(st.pooling), seeds=int(st.ok_results.groupby('reg').seed.nunique().min()),
                                sd=[[round(float(v), 6) for v in row] for row in sd.to_numpy()]), indent=1) + '\n')
print(f"{dest}: {sd.shape[0]} measures × {sd.shape[1]} configurations")
