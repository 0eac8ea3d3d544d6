// Tests share one libtorch and a few cores: run them one class at a time.
[assembly: DoNotParallelize]
