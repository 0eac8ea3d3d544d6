using System.CommandLine;
using MLNetLlmClassifier.Cli.Commands;
using MLNetLlmClassifier.Cli.Scoring;
using MLNetLlmClassifier.Configuration;

namespace MLNetLlmClassifier.Cli.Serving;

/// <summary><c>mlnet-llm serve</c>: an HTTP endpoint over a saved model.zip (see <see cref="ClassifierServer"/>).</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Trained ML.NET model (.zip).", Required = true };
        var flags = new OptionsClassFlags(typeof(ServeOptions));
        var cmd = new Command("serve", "Serve a trained model over HTTP: POST /predict (micro-batched), GET /health, /metrics (Prometheus), /openapi.json. Loopback only unless --urls says otherwise.");
        cmd.Options.Add(model);
        flags.AddTo(cmd);
        cmd.SetAction(r => CliCommon.Run(r, () =>
        {
            var options = new ServeOptions();
            flags.Apply(r, options);
            options.Validate();
            string path = r.GetValue(model)!;
            using var scorer = ModelScorer.Load(path);
            Serve(scorer, options, path, Console.Out).GetAwaiter().GetResult();
            return 0;
        }));
        return cmd;
    }

    /// <summary>Runs the server until Ctrl+C or SIGTERM; requests in flight are answered before it returns.</summary>
    internal static async Task Serve(ITextScorer scorer, ServeOptions options, string modelName, TextWriter log)
    {
        await using var server = ClassifierServer.Create(scorer, options, modelName);
        await server.StartAsync().ConfigureAwait(false);
        if (!options.LoopbackOnly())
            log.WriteLine($"warning: listening beyond the loopback interface ({options.Urls}); the server has no authentication: put it behind a proxy.");
        log.WriteLine($"Serving {modelName} ({scorer.ClassNames.Count} classes: {string.Join(", ", scorer.ClassNames.Take(10))}) on {string.Join(", ", server.Urls)}");
        log.WriteLine($"POST /predict {{\"text\": ...}} or {{\"texts\": [...]}}; GET /health, /metrics, /openapi.json. Micro-batches of up to {options.MaxBatchSize} texts, waiting at most {options.MaxWaitMilliseconds} ms. Ctrl+C stops (requests in flight are answered).");
        await server.WaitForShutdownAsync().ConfigureAwait(false);
        log.WriteLine("Stopped.");
    }
}

/// <summary>
/// Flags derived from the <see cref="CommandLineAliasAttribute"/>s of an options class (described by <see cref="OptionCatalog"/>): each flag
/// sets the member it is declared on, converted as <c>--set</c> converts, and its help is the member's documentation.
/// </summary>
internal sealed class OptionsClassFlags
{
    private readonly List<(Option<string?> Flag, string Member)> _flags = [];

    /// <param name="optionsType">The options class.</param>
    /// <param name="except">Members that get no flag here.</param>
    public OptionsClassFlags(Type optionsType, IReadOnlyCollection<string>? except = null)
    {
        foreach (var o in OptionCatalog.Describe(optionsType))
            if (o.Alias is { } alias && except?.Contains(o.Name) != true)
                _flags.Add((new Option<string?>(alias) { Description = $"{o.Summary ?? o.Name} (option {o.Name})" }, o.Name));
    }

    public void AddTo(Command c)
    {
        foreach (var (flag, _) in _flags) c.Options.Add(flag);
    }

    /// <summary>Sets the members whose flags were given.</summary>
    public void Apply(ParseResult r, object options)
    {
        foreach (var (flag, member) in _flags)
        {
            if (r.GetValue(flag) is not { } value) continue;
            try { OptionsBinder.Apply(options, member, value); }
            catch (ArgumentException e) { throw new ArgumentException($"{flag.Name} '{value}': {e.Message}", e); }
        }
    }
}
