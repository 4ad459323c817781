using System.Text.Json;
using System.Text.Json.Serialization;

namespace GidCluster.Client.Benchmarks;

/// <summary>One measured figure: name, value, unit, and (when it has one) the ratio to its reference.</summary>
public sealed record BenchFigure(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("value")] double Value,
    [property: JsonPropertyName("unit")] string Unit,
    [property: JsonPropertyName("reference")] double? Reference = null,
    [property: JsonPropertyName("ratio")] double? Ratio = null,
    [property: JsonPropertyName("goal")] string? Goal = null);

/// <summary>The closing <c>BENCH {json}</c> line every benchmark prints last.</summary>
public static class BenchReport
{
    private static readonly JsonSerializerOptions Json = new() { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    public static void Print(string benchmark, IEnumerable<BenchFigure> figures, IReadOnlyDictionary<string, string>? environment = null)
    {
        var payload = new Dictionary<string, object>
        {
            ["benchmark"] = benchmark,
            ["figures"] = figures.ToList(),
        };
        if (environment != null)
            payload["environment"] = environment;
        Console.WriteLine("BENCH " + JsonSerializer.Serialize(payload, Json));
    }

    /// <summary>The median, which benchmarks report because this kind of machine has bursts of noise.</summary>
    public static double Median(IEnumerable<double> values)
    {
        var v = values.Order().ToList();
        if (v.Count == 0) throw new ArgumentException("no values to take the median of", nameof(values));
        return v.Count % 2 == 1 ? v[v.Count / 2] : (v[v.Count / 2 - 1] + v[v.Count / 2]) / 2;
    }
}
