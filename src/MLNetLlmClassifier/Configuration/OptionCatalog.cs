using System.Reflection;
using System.Xml.Linq;
using Microsoft.ML;

namespace MLNetLlmClassifier.Configuration;

/// <summary>Names a command-line shorthand of an option (e.g. <c>--lr</c> for LearningRate); the CLI derives its flags from these.</summary>
/// <param name="alias">The flag, with its leading dashes.</param>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field, AllowMultiple = false)]
public sealed class CommandLineAliasAttribute(string alias) : Attribute
{
    /// <summary>The flag, e.g. "--lr".</summary>
    public string Alias { get; } = alias;
}

/// <summary>One option of an options class, as declared there.</summary>
/// <param name="Name">The member's name: the key in config files, <c>--set family.Name=value</c> and sweep spaces.</param>
/// <param name="Type">The member's type.</param>
/// <param name="Default">The value a new options object has.</param>
/// <param name="Summary">The member's XML documentation summary, when the documentation file ships beside the assembly.</param>
/// <param name="Alias">Its command-line shorthand (<see cref="CommandLineAliasAttribute"/>), or null.</param>
public sealed record OptionInfo(string Name, Type Type, object? Default, string? Summary, string? Alias);

/// <summary>
/// The options vocabulary: every option is declared once, as a public settable member of its options class with its XML
/// documentation, its default (the initial value) and its validation (the class's Validate). The CLI flags, <c>--set</c>,
/// config files, sweeps and <c>mlnet-llm options</c> all read that one declaration through this catalog and
/// <see cref="OptionsBinder"/>. Members that hold run-time objects (data views, progress sinks, cancellation tokens) are not options.
/// </summary>
public static class OptionCatalog
{
    private static readonly Dictionary<Assembly, Dictionary<string, string>> Docs = new();

    /// <summary>The options of <paramref name="optionsType"/>, in declaration order (base class first).</summary>
    public static IReadOnlyList<OptionInfo> Describe(Type optionsType)
    {
        ArgumentNullException.ThrowIfNull(optionsType);
        object? defaults = optionsType.GetConstructor(Type.EmptyTypes) is not null ? Activator.CreateInstance(optionsType) : null;
        var list = new List<OptionInfo>();
        foreach (var type in Hierarchy(optionsType))
        {
            foreach (var p in type.GetProperties(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly))
            {
                if (p.SetMethod?.IsPublic != true || p.GetIndexParameters().Length > 0 || !IsConfigurable(p.PropertyType)) continue;
                list.Add(new OptionInfo(p.Name, p.PropertyType, defaults is null ? null : p.GetValue(defaults), Summary(p),
                    p.GetCustomAttribute<CommandLineAliasAttribute>()?.Alias));
            }
            foreach (var f in type.GetFields(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly))
            {
                if (f.IsInitOnly || !IsConfigurable(f.FieldType)) continue;
                list.Add(new OptionInfo(f.Name, f.FieldType, defaults is null ? null : f.GetValue(defaults), Summary(f),
                    f.GetCustomAttribute<CommandLineAliasAttribute>()?.Alias));
            }
        }
        return list;
    }

    /// <summary>Whether a member of this type can be set from text or JSON (not a data view, progress sink or token).</summary>
    public static bool IsConfigurable(Type type) =>
        type != typeof(CancellationToken) && !typeof(IDataView).IsAssignableFrom(type)
        && !(type.IsGenericType && type.GetGenericTypeDefinition() == typeof(IProgress<>)) && !typeof(Delegate).IsAssignableFrom(type);

    private static IEnumerable<Type> Hierarchy(Type t)
    {
        var chain = new Stack<Type>();
        for (var x = t; x is not null && x != typeof(object); x = x.BaseType) chain.Push(x);
        return chain;
    }

    private static string? Summary(MemberInfo m)
    {
        var docs = DocsOf(m.DeclaringType!.Assembly);
        string id = (m is PropertyInfo ? "P:" : "F:") + m.DeclaringType!.FullName!.Replace('+', '.') + "." + m.Name;
        return docs.TryGetValue(id, out var s) ? s : null;
    }

    private static Dictionary<string, string> DocsOf(Assembly assembly)
    {
        lock (Docs)
        {
            if (Docs.TryGetValue(assembly, out var d)) return d;
            d = new Dictionary<string, string>(StringComparer.Ordinal);
            try
            {
                var path = string.IsNullOrEmpty(assembly.Location) ? null : Path.ChangeExtension(assembly.Location, ".xml");
                if (path is not null && File.Exists(path))
                {
                    foreach (var member in XDocument.Load(path).Descendants("member"))
                    {
                        var name = member.Attribute("name")?.Value;
                        var summary = member.Element("summary");
                        if (name is null || summary is null) continue;
                        // <see cref="T:X.Y"/> and <c>..</c> read as their last name / text.
                        var text = string.Concat(summary.Nodes().Select(n => n switch
                        {
                            XElement e when e.Attribute("cref") is { } cref => cref.Value[(cref.Value.LastIndexOf('.') + 1)..],
                            XElement e when e.Attribute("langword") is { } lw => lw.Value,
                            XElement e => e.Value,
                            _ => n.ToString(),
                        }));
                        d[name] = string.Join(' ', text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)).Replace("&lt;", "<").Replace("&gt;", ">").Replace("&amp;", "&");
                    }
                }
            }
            catch (Exception e) when (e is IOException or System.Xml.XmlException or UnauthorizedAccessException)
            {
                // Documentation is a nicety: without it the options are still listed.
            }
            Docs[assembly] = d;
            return d;
        }
    }
}
