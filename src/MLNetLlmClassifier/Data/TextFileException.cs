namespace MLNetLlmClassifier.Data;

/// <summary>
/// A delimited text file could not be read as a text-classification table. The message names the file, the
/// 1-based line (when the problem has one) and the problem, e.g.
/// <c>data/train.csv, line 12: row has 2 fields but column 'description' is index 2 (needs 3 fields).</c>
/// </summary>
public sealed class TextFileException : FormatException
{
    /// <summary>Creates the exception; the message is prefixed with the file name and line.</summary>
    /// <param name="fileName">Path or display name of the file.</param>
    /// <param name="line">1-based physical line the problem is on, or null when it concerns the whole file.</param>
    /// <param name="problem">What is wrong, as a sentence.</param>
    /// <param name="inner">The underlying exception, if any.</param>
    public TextFileException(string fileName, int? line, string problem, Exception? inner = null)
        : base(line is int l ? $"{fileName}, line {l}: {problem}" : $"{fileName}: {problem}", inner)
    {
        FileName = fileName;
        Line = line;
        Problem = problem;
    }

    /// <summary>Path or display name of the file at fault.</summary>
    public string FileName { get; }

    /// <summary>1-based line of the problem, or null when it concerns the whole file.</summary>
    public int? Line { get; }

    /// <summary>The problem without the file and line prefix.</summary>
    public string Problem { get; }
}
