using System.CommandLine;
using GidCluster.Dataprep.Manifest;

namespace GidCluster.Client.Commands;

/// <summary>
/// The one place where <c>gid</c> turns bad input into a one-line error naming the input, with
/// exit code 2: malformed arguments (System.CommandLine's parse errors) and the exceptions that
/// mean "this input is wrong" (a bad value, a missing or unreadable file, a malformed document).
/// Anything else is a bug in gid: it is reported with its stack trace and exit code 1.
/// </summary>
public static class UserErrors
{
    public const int ExitCode = 2;

    /// <summary>Exit code 2 after one line per parse error, or null when the arguments parsed.</summary>
    public static int? FromParse(ParseResult parsed)
    {
        if (parsed.Errors.Count == 0)
            return null;
        Console.Error.WriteLine($"{Name(parsed)}: {string.Join("; ", parsed.Errors.Select(e => OneLine(e.Message)).Distinct())} (see {Name(parsed)} --help)");
        return ExitCode;
    }

    /// <summary>Reports an exception that escaped a command; returns the exit code.</summary>
    public static int Report(ParseResult parsed, Exception e)
    {
        if (e is AggregateException { InnerExceptions.Count: 1 } single)
            e = single.InnerException!;
        if (e is OperationCanceledException)
        {
            Console.Error.WriteLine($"{Name(parsed)}: cancelled");
            return 130;
        }
        if (IsUserInput(e))
        {
            Console.Error.WriteLine($"{Name(parsed)}: {OneLine(e.Message)}");
            return ExitCode;
        }
        Console.Error.WriteLine($"{Name(parsed)}: internal error (a bug in gid, please report it): {e}");
        return 1;
    }

    /// <summary>Exceptions that say the input is wrong (and already name it), not that gid is.</summary>
    public static bool IsUserInput(Exception e) =>
        e is ArgumentException or FormatException or IOException or InvalidDataException or UnauthorizedAccessException
            or System.Text.Json.JsonException or ManifestException or GidCluster.Dataprep.Shards.ParquetFormatException
            or ClusterClientException // no cluster, no such job or run: its message says what to pass
            or Microsoft.AspNetCore.Connections.AddressInUseException; // a port given (or drawn) is taken

    private static string OneLine(string message) => string.Join(" ", message.Split(['\n', '\r'], StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));

    /// <summary>"gid synth score": the command that ran, as typed.</summary>
    private static string Name(ParseResult parsed)
    {
        var names = new List<string>();
        for (var c = parsed.CommandResult; c != null; c = c.Parent as System.CommandLine.Parsing.CommandResult)
            names.Add(c.Command is RootCommand ? "gid" : c.Command.Name);
        names.Reverse();
        return string.Join(" ", names);
    }
}
