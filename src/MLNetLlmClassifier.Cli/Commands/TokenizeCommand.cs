using System.CommandLine;
using MLNetLlmClassifier.Text;

namespace MLNetLlmClassifier.Cli.Commands;

/// <summary><c>mlnet-llm tokenize</c>: token ids of JSONL texts, no special tokens added (Qwen3 BPE or BERT WordPiece folders).</summary>
internal static class TokenizeCommand
{
    public static Command Create()
    {
        var tokenizer = new Option<string>("--tokenizer") { Description = "Tokenizer folder (tokenizer.json, or vocab.txt for BERT).", Required = true };
        var input = new Option<string>("--input") { Description = "JSONL file of {\"text\": ...} lines.", Required = true };
        var output = new Option<string>("--output") { Description = "JSONL file to write {\"text\": ..., \"ids\": [...]} lines to.", Required = true };
        var cmd = new Command("tokenize", "Tokenize JSONL texts without adding special tokens.");
        cmd.Options.Add(tokenizer);
        cmd.Options.Add(input);
        cmd.Options.Add(output);
        cmd.SetAction(r => CliCommon.Run(r, () =>
        {
            TokenizeJsonl.Run(r.GetValue(tokenizer)!, r.GetValue(input)!, r.GetValue(output)!);
            return 0;
        }));
        return cmd;
    }
}
