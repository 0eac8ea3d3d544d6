using MLNetLlmClassifier.Torch;

namespace MLNetLlmClassifier.Tests.Torch;

[TestClass]
public class StepProfilerTests
{
    [TestMethod]
    public void NestedPhasesGetExclusiveTimesAndWarmupIsSkipped()
    {
        using var profiler = StepProfiler.Start(skipSteps: 1);
        for (int step = 0; step < 3; step++)
        {
            using (StepProfiler.Measure("outer"))
            {
                Thread.Sleep(step == 0 ? 200 : 20); // the warm-up step is slow and must not count
                using (StepProfiler.Measure("inner")) Thread.Sleep(40);
            }
            StepProfiler.EndOf("step");
        }
        Assert.AreEqual(2, profiler.Count("step"));
        var phases = profiler.Phases.ToDictionary(p => p.Phase);
        Assert.AreEqual(2, phases["inner"].Calls);
        // inner ≈ 80 ms over two steps; outer's own time excludes inner: ≈ 40 ms, not 120 (and not the warm-up's 200).
        Assert.IsTrue(phases["inner"].Seconds >= 0.079, $"inner {phases["inner"].Seconds}");
        Assert.IsTrue(phases["outer"].Seconds >= 0.039 && phases["outer"].Seconds < phases["inner"].Seconds + 0.030,
            $"outer's exclusive time {phases["outer"].Seconds} should exclude inner ({phases["inner"].Seconds}) and the warm-up");
        StringAssert.Contains(profiler.Format("step"), "inner");
    }

    [TestMethod]
    public void NothingIsRecordedWithoutAProfilerOrAfterItsDisposal()
    {
        Assert.IsFalse(StepProfiler.IsActive);
        using (StepProfiler.Measure("ignored")) { }
        StepProfiler.EndOf("step");
        var profiler = StepProfiler.Start(skipSteps: 0);
        Assert.IsTrue(StepProfiler.IsActive);
        profiler.Dispose();
        using (StepProfiler.Measure("after")) { }
        Assert.IsFalse(StepProfiler.IsActive);
        Assert.AreEqual(0, profiler.Phases.Count);
    }
}
