namespace MLNetLlmClassifier.Sweeps;

/// <summary>
/// Tree-structured Parzen Estimator (Bergstra et al., 2011, as in hyperopt and Optuna): after
/// <see cref="StartupTrials"/> random trials, the finished trials are split into the best
/// <see cref="Gamma"/> fraction ("good") and the rest ("bad"); each dimension gets a density l(x) from the good
/// trials and g(x) from the bad ones, <see cref="EiCandidates"/> points are drawn from l, and the one with the largest
/// l(x)/g(x) (the expected-improvement maximiser) runs next.
/// </summary>
/// <remarks>
/// <para>Numeric dimensions are modelled in the unit interval (log space for log ranges) by a mixture of truncated
/// Gaussians, one per trial plus a wide prior, each as wide as the larger gap to its neighbours (hyperopt's rule),
/// clipped to [1/min(100, n+1), 1]. Choices are modelled by smoothed counts. Several candidates (trainers) are a choice
/// on top; each candidate's dimensions are modelled from that candidate's trials only (the "tree" of TPE).</para>
/// <para>Pruned trials rank after completed ones, by how far they got and then by their last value, and failed trials
/// rank last, so the tuner learns to avoid regions that diverge, run out of memory or get pruned (as Optuna does).</para>
/// <para>Each proposal draws from a random stream of (seed, trial id, attempt), so proposals depend only on the history:
/// a resumed sweep proposes what the uninterrupted one would have.</para>
/// </remarks>
public sealed class TpeTuner : ITuner
{
    /// <summary>Creates the tuner.</summary>
    public TpeTuner(int seed = 0) => Seed = seed;

    /// <summary>The seed.</summary>
    public int Seed { get; }

    /// <summary>Random trials before the model takes over. Default 6 (deep-learning budgets are small).</summary>
    public int StartupTrials { get; init; } = 6;

    /// <summary>Points drawn from l(x) per proposal; the best ratio l/g wins. Default 24 (hyperopt's default).</summary>
    public int EiCandidates { get; init; } = 24;

    /// <summary>Fraction of the finished trials in the good group (at least 1, at most <see cref="MaxGood"/>). Default 0.25.</summary>
    public double Gamma { get; init; } = 0.25;

    /// <summary>Largest good group. Default 25.</summary>
    public int MaxGood { get; init; } = 25;

    /// <summary>Weight of the wide prior component of each density (1 = one trial's worth). Default 1.</summary>
    public double PriorWeight { get; init; } = 1.0;

    /// <inheritdoc/>
    public TrialParameters? Propose(TunerContext context)
    {
        var rng = SweepRandom.For(Seed, context.TrialId, context.Attempt);
        var names = context.Candidates.Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        var history = context.History.Where(r => names.Contains(r.Candidate)).ToList();
        if (history.Count < Math.Max(1, StartupTrials)) return RandomTuner.Sample(rng, context.Candidates);

        var ranked = SweepLeaderboard.Rank(history, context.Maximize);
        int nGood = Math.Clamp((int)Math.Ceiling(Gamma * ranked.Count), 1, Math.Max(1, MaxGood));
        var good = ranked.Take(nGood).ToList();
        var bad = ranked.Skip(nGood).ToList();

        // The candidate is a choice on top of the tree.
        var candidateIndex = new Func<TrialRecord, int>(r => IndexOfCandidate(context.Candidates, r.Candidate));
        var candL = new CategoricalDensity(context.Candidates.Count, good.Select(candidateIndex), PriorWeight);
        var candG = new CategoricalDensity(context.Candidates.Count, bad.Select(candidateIndex), PriorWeight);
        var models = context.Candidates.Select(c => DimensionModels(c, good, bad)).ToArray();

        double bestScore = double.NegativeInfinity;
        (int Candidate, double[] Units)? best = null;
        for (int k = 0; k < Math.Max(1, EiCandidates); k++)
        {
            int ci = context.Candidates.Count == 1 ? 0 : candL.Sample(rng);
            double score = context.Candidates.Count == 1 ? 0 : candL.LogDensity(ci) - candG.LogDensity(ci);
            var dims = models[ci];
            var units = new double[dims.Length];
            for (int d = 0; d < dims.Length; d++)
            {
                var (l, g) = dims[d];
                units[d] = l.Sample(rng);
                score += l.LogDensity(units[d]) - g.LogDensity(units[d]);
            }
            if (score > bestScore) { bestScore = score; best = (ci, units); }
        }
        return SweepRandom.FromUnits(context.Candidates[best!.Value.Candidate], best.Value.Units);
    }

    private static int IndexOfCandidate(IReadOnlyList<SweepCandidateSpace> candidates, string name)
    {
        for (int i = 0; i < candidates.Count; i++) if (candidates[i].Name == name) return i;
        return 0;
    }

    private (IDensity L, IDensity G)[] DimensionModels(SweepCandidateSpace c, List<TrialRecord> good, List<TrialRecord> bad)
    {
        var g = good.Where(r => r.Candidate == c.Name).ToList();
        var b = bad.Where(r => r.Candidate == c.Name).ToList();
        return c.Space.Select(d => d is ChoiceDimension choice
                ? ((IDensity)new CategoricalUnitDensity(choice, g.Select(r => r.Parameters[d.Name]), PriorWeight),
                   (IDensity)new CategoricalUnitDensity(choice, b.Select(r => r.Parameters[d.Name]), PriorWeight))
                : (new ParzenDensity(g.Select(r => d.ToUnit(r.Parameters[d.Name])), PriorWeight),
                   new ParzenDensity(b.Select(r => d.ToUnit(r.Parameters[d.Name])), PriorWeight)))
            .ToArray();
    }

    private interface IDensity
    {
        double Sample(Random rng);
        double LogDensity(double u);
    }

    /// <summary>Smoothed frequencies of K categories: p(k) ∝ prior/K + count(k).</summary>
    private sealed class CategoricalDensity
    {
        private readonly double[] _p;

        public CategoricalDensity(int k, IEnumerable<int> observed, double prior)
        {
            _p = Enumerable.Repeat(prior / k, k).ToArray();
            foreach (var i in observed) _p[i] += 1;
            double sum = _p.Sum();
            for (int i = 0; i < k; i++) _p[i] /= sum;
        }

        public int Sample(Random rng)
        {
            double u = rng.NextDouble(), acc = 0;
            for (int i = 0; i < _p.Length; i++) if ((acc += _p[i]) > u) return i;
            return _p.Length - 1;
        }

        public double LogDensity(int i) => Math.Log(_p[i]);
    }

    /// <summary>A categorical density over a choice, in the unit coordinates of <see cref="ChoiceDimension"/>.</summary>
    private sealed class CategoricalUnitDensity : IDensity
    {
        private readonly ChoiceDimension _dim;
        private readonly CategoricalDensity _density;

        public CategoricalUnitDensity(ChoiceDimension dim, IEnumerable<object?> observed, double prior)
        {
            _dim = dim;
            _density = new CategoricalDensity(dim.Options.Count, observed.Select(v => Math.Max(0, dim.IndexOf(v))), prior);
        }

        public double Sample(Random rng) => (_density.Sample(rng) + 0.5) / _dim.Options.Count;

        public double LogDensity(double u) => _density.LogDensity(_dim.IndexAt(u));
    }

    /// <summary>Mixture of Gaussians truncated to [0, 1]: one per observation plus a prior N(0.5, 1).</summary>
    private sealed class ParzenDensity : IDensity
    {
        private readonly double[] _mu, _sigma, _weight, _mass;

        public ParzenDensity(IEnumerable<double> observed, double priorWeight)
        {
            const double priorMu = 0.5, priorSigma = 1.0;
            var obs = observed.Select(v => Math.Clamp(v, 0, 1)).ToList();
            // Sorted points, the prior among them, as hyperopt does; each point is as wide as its larger neighbour gap.
            var points = obs.Select(v => (Mu: v, Prior: false)).Append((Mu: priorMu, Prior: true)).OrderBy(p => p.Mu).ToArray();
            int n = points.Length;
            _mu = new double[n]; _sigma = new double[n]; _weight = new double[n]; _mass = new double[n];
            double minSigma = priorSigma / Math.Min(100.0, n + 1);
            for (int i = 0; i < n; i++)
            {
                double left = points[i].Mu - (i > 0 ? points[i - 1].Mu : 0.0);
                double right = (i < n - 1 ? points[i + 1].Mu : 1.0) - points[i].Mu;
                _mu[i] = points[i].Mu;
                _sigma[i] = points[i].Prior ? priorSigma : Math.Clamp(Math.Max(left, right), minSigma, priorSigma);
                _weight[i] = points[i].Prior ? priorWeight : 1.0;
                _mass[i] = Math.Max(1e-12, Phi((1 - _mu[i]) / _sigma[i]) - Phi(-_mu[i] / _sigma[i]));
            }
            double sum = _weight.Sum();
            for (int i = 0; i < n; i++) _weight[i] /= sum;
        }

        public double Sample(Random rng)
        {
            double u = rng.NextDouble(), acc = 0;
            int k = _weight.Length - 1;
            for (int i = 0; i < _weight.Length; i++) if ((acc += _weight[i]) > u) { k = i; break; }
            for (int attempt = 0; attempt < 64; attempt++)
            {
                double x = _mu[k] + _sigma[k] * Gaussian(rng);
                if (x is >= 0 and < 1) return x;
            }
            return rng.NextDouble();
        }

        public double LogDensity(double u)
        {
            double p = 0;
            for (int i = 0; i < _mu.Length; i++)
            {
                double z = (u - _mu[i]) / _sigma[i];
                p += _weight[i] * Math.Exp(-0.5 * z * z) / (_sigma[i] * Math.Sqrt(2 * Math.PI) * _mass[i]);
            }
            return Math.Log(Math.Max(p, 1e-300));
        }

        private static double Gaussian(Random rng)
        {
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
        }

        // Standard normal CDF through erf (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7: plenty for a density ratio).
        private static double Phi(double x)
        {
            double z = Math.Abs(x) / Math.Sqrt(2);
            double t = 1 / (1 + 0.3275911 * z);
            double erf = 1 - t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))) * Math.Exp(-z * z);
            return 0.5 * (1 + (x >= 0 ? erf : -erf));
        }
    }
}
