using MLNetLlmClassifier.Reports;

// In the sweeps' namespace (though it ships with the reports) so that it shows next to the experiment's own setters.
namespace MLNetLlmClassifier.Sweeps;

/// <summary>Turns on a sweep's PNG charts (the MLNetLlmClassifier.Reports package).</summary>
public static class SweepChartsExtensions
{
    /// <summary>
    /// Draws the sweep's charts with <see cref="SweepCharts"/> into <c>charts/</c> of the output folder at the end of the
    /// sweep: <c>metric-by-trial.png</c> and one <c>param-&lt;name&gt;.png</c> per parameter (see docs/sweeps.md).
    /// </summary>
    public static SweepExperiment SetSweepCharts(this SweepExperiment experiment)
    {
        ArgumentNullException.ThrowIfNull(experiment);
        return experiment.SetChartRenderer(new SweepCharts());
    }
}
