__version__ = "0.2.0"

# fastai decorates a few helpers with `torch.jit.script` when it is imported, which recent PyTorch reports
# as deprecated; the kit never scripts anything. Filtered here, before any module imports fastai.
import warnings as _warnings
_warnings.filterwarnings('ignore', message=r'`torch.jit.script` is deprecated', category=FutureWarning)
