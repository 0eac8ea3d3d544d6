using System.Diagnostics;
using Microsoft.ML;
using MLNetLlmClassifier.Sweeps;

namespace MLNetLlmClassifier.Tests.Sweeps;

/// <summary>
/// One sweep per output folder (issue 11: "two sweeps on one output folder corrupt the results file"): a second sweep fails
/// at once naming the folder; a lock left by a dead process does not block.
/// </summary>
[TestClass]
public class SweepFolderLockTests
{
    private static SweepExperiment Experiment(string folder, Func<TrialContext, TrialOutcome> run, int trials) =>
        new MLContext(seed: 0).Sweeps().CreateExperiment()
            .AddTrialRunner("synthetic", SyntheticObjectives.FineTuningSpace(), run)
            .SetMetric(SweepMetric.MacroF1)
            .SetSeed(3)
            .SetBudget(maxTrials: trials)
            .SetOutputFolder(folder);

    private static TrialOutcome Curve(TrialContext t) =>
        PrunerTests.TrainCurve(t, SyntheticObjectives.FineTuning(t.Parameters), t.Parameters.Get<int>("NumberOfEpochs"));

    [TestMethod]
    public void ASecondSweepOnTheSameFolderFailsAtOnce()
    {
        using var dir = new TempFolder();
        string folder = dir.File("sweep");
        using var firstIsRunning = new ManualResetEventSlim();
        using var secondHasFailed = new ManualResetEventSlim();
        var first = Experiment(folder, t =>
        {
            firstIsRunning.Set();
            Assert.IsTrue(secondHasFailed.Wait(TimeSpan.FromSeconds(60)), "the second sweep did not end");
            return Curve(t);
        }, trials: 2).RunAsync();
        Assert.IsTrue(firstIsRunning.Wait(TimeSpan.FromSeconds(60)), "the first sweep did not start a trial");

        int secondTrials = 0;
        var watch = Stopwatch.StartNew();
        var e = Assert.Throws<Exception>(() => Experiment(folder, t => { secondTrials++; return Curve(t); }, trials: 2).RunAsync().GetAwaiter().GetResult());
        watch.Stop();
        secondHasFailed.Set();
        Console.WriteLine($"{watch.Elapsed.TotalMilliseconds:F0} ms: {e.GetType().Name}: {e.Message}");
        Assert.IsInstanceOfType<IOException>(e, e.ToString());
        Assert.IsLessThan(1.0, watch.Elapsed.TotalSeconds);
        Assert.AreEqual(0, secondTrials, "the second sweep ran no trial");
        Assert.DoesNotContain("\n", e.Message);
        StringAssert.Contains(e.Message, Path.GetFullPath(folder));
        StringAssert.Contains(e.Message, $"process {Environment.ProcessId}");

        // The first sweep finishes alone: a header and its two trials, every line valid.
        var result = first.GetAwaiter().GetResult();
        Assert.HasCount(2, result.Trials);
        var lines = File.ReadAllLines(Path.Combine(folder, SweepExperiment.ResultsFileName));
        Assert.HasCount(3, lines);
        foreach (var line in lines) System.Text.Json.JsonDocument.Parse(line).Dispose();

        // Released at the end: the next sweep on the folder resumes.
        var resumed = Experiment(folder, Curve, trials: 3).RunAsync().GetAwaiter().GetResult();
        Assert.HasCount(3, resumed.Trials);
    }

    [TestMethod]
    public void ALockFileLeftByADeadProcessDoesNotBlock()
    {
        using var dir = new TempFolder();
        string folder = dir.File("sweep");
        Directory.CreateDirectory(folder);
        string lockFile = Path.Combine(folder, SweepFolderLock.FileName);
        // A file as a crashed sweep leaves it: the kernel dropped its lock with the process.
        File.WriteAllText(lockFile, "process 999999 on elsewhere, started 2020-01-01 00:00:00 +00:00\n");
        Assert.HasCount(1, Experiment(folder, Curve, trials: 1).RunAsync().GetAwaiter().GetResult().Trials);

        // Another process that holds the lock (flock(1), the same advisory lock .NET takes for FileShare.None) blocks the
        // folder; once it is killed, the folder is free again.
        if (!File.Exists("/usr/bin/flock")) return;
        // -o: the lock is held by flock itself, not inherited by sleep.
        using var holder = Process.Start(new ProcessStartInfo("/usr/bin/flock", ["-o", "-x", lockFile, "sleep", "60"]) { UseShellExecute = false })!;
        try
        {
            var deadline = DateTime.UtcNow.AddSeconds(20);
            IOException? refused = null;
            while (refused is null && DateTime.UtcNow < deadline)
            {
                try { SweepFolderLock.Acquire(folder).Dispose(); Thread.Sleep(50); }
                catch (IOException e) { refused = e; }
            }
            Assert.IsNotNull(refused, "a lock held by another process did not block");
            StringAssert.Contains(refused.Message, "in use by another sweep");
        }
        finally
        {
            holder.Kill(entireProcessTree: true);
            holder.WaitForExit();
        }
        SweepFolderLock.Acquire(folder).Dispose();
        Assert.HasCount(2, Experiment(folder, Curve, trials: 2).RunAsync().GetAwaiter().GetResult().Trials);
    }
}
