using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Text;

namespace GidCluster.Silo.Dashboard;

/// <summary>
/// Orleans' own meters (the <c>Microsoft.Orleans</c> System.Diagnostics.Metrics meter: messaging, activations,
/// grain calls, membership, ...) of this silo process, collected by a <see cref="MeterListener"/> for the
/// Prometheus text. Counters are summed, gauges keep their last value, histograms become a count and a sum.
/// </summary>
public sealed class OrleansMeters : IDisposable
{
    public const string MeterName = "Microsoft.Orleans";

    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<(Instrument Instrument, string Labels), Value> _values = new();

    private sealed class Value
    {
        public double Sum;
        public double Last;
        public long Count;
    }

    public OrleansMeters()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == MeterName)
                listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<int>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<float>((i, v, tags, _) => Record(i, v, tags));
        _listener.Start();
    }

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var labels = new StringBuilder();
        foreach (var tag in tags)
            labels.Append(labels.Length > 0 ? "," : "").Append(Name(tag.Key)).Append("=\"").Append(Escape(tag.Value?.ToString() ?? "")).Append('"');
        var entry = _values.GetOrAdd((instrument, labels.ToString()), _ => new Value());
        lock (entry)
        {
            entry.Sum += value;
            entry.Last = value;
            entry.Count++;
        }
    }

    /// <summary>Appends every Orleans instrument seen so far in the Prometheus text format (observable ones are read now).</summary>
    public void Write(StringBuilder text)
    {
        _listener.RecordObservableInstruments();
        foreach (var family in _values.GroupBy(v => v.Key.Instrument).OrderBy(g => g.Key.Name, StringComparer.Ordinal))
        {
            var instrument = family.Key;
            // Orleans names its instruments orleans-...; the prefix marks any other the meter may gain.
            var name = Name(instrument.Name) is var n && n.StartsWith("orleans_", StringComparison.Ordinal) ? n : "orleans_" + n;
            var help = $"Orleans meter {instrument.Name}{(instrument.Unit is { Length: > 0 } u ? $" ({u})" : "")}{(instrument.Description is { Length: > 0 } d ? ": " + d : "")}";
            var samples = family.OrderBy(v => v.Key.Labels, StringComparer.Ordinal).ToList();
            switch (instrument)
            {
                case Histogram<long> or Histogram<int> or Histogram<double> or Histogram<float>:
                    Family(text, name + "_count", help + " (measurements)", "counter", samples, v => v.Count);
                    Family(text, name + "_sum", help + " (sum of measurements)", "counter", samples, v => v.Sum);
                    break;
                case Counter<long> or Counter<int> or Counter<double> or Counter<float>
                    or UpDownCounter<long> or UpDownCounter<int> or UpDownCounter<double> or UpDownCounter<float>:
                    Family(text, name, help, instrument.GetType().Name.StartsWith("Counter", StringComparison.Ordinal) ? "counter" : "gauge", samples, v => v.Sum);
                    break;
                default: // observable instruments report their current (for counters: cumulative) value
                    Family(text, name, help, instrument.GetType().Name.StartsWith("ObservableCounter", StringComparison.Ordinal) ? "counter" : "gauge", samples, v => v.Last);
                    break;
            }
        }
    }

    private static void Family(StringBuilder text, string name, string help, string type, List<KeyValuePair<(Instrument Instrument, string Labels), Value>> samples, Func<Value, double> pick)
    {
        text.Append("# HELP ").Append(name).Append(' ').Append(help.Replace("\\", "\\\\").Replace("\n", "\\n")).Append('\n');
        text.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
        foreach (var (key, value) in samples)
        {
            double v;
            lock (value)
                v = pick(value);
            text.Append(name);
            if (key.Labels.Length > 0)
                text.Append('{').Append(key.Labels).Append('}');
            text.Append(' ').Append(PrometheusText.Format(v)).Append('\n');
        }
    }

    /// <summary>Prometheus names allow letters, digits and '_': Orleans' dashes and dots become '_'.</summary>
    private static string Name(string s)
    {
        var b = new StringBuilder(s.Length);
        foreach (var c in s)
            b.Append(char.IsAsciiLetterOrDigit(c) || c == '_' ? c : '_');
        return b.Length > 0 && char.IsAsciiDigit(b[0]) ? "_" + b : b.ToString();
    }

    private static string Escape(string v) => PrometheusText.Escape(v);

    public void Dispose() => _listener.Dispose();
}
