using System.Globalization;
using System.Text;

namespace GidCluster.Silo.Dashboard;

/// <summary>Writes a snapshot in the Prometheus text exposition format (version 0.0.4): gauges only, one HELP/TYPE per family.</summary>
public static class PrometheusText
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    /// <param name="orleans">Orleans' own meters of this silo, appended after ours.</param>
    public static string Write(DashboardSnapshot s, OrleansMeters? orleans = null)
    {
        var w = new Writer();
        w.Family("gid_silo_up", "1 while Orleans membership has the silo active, else 0.");
        foreach (var silo in s.Silos)
            w.Sample("gid_silo_up", silo.Alive ? 1 : 0, ("silo", silo.Id), ("role", silo.Role), ("state", silo.State));
        w.Family("gid_silo_uptime_seconds", "Seconds since the silo started.");
        foreach (var silo in s.Silos)
            w.Sample("gid_silo_uptime_seconds", silo.UpSeconds, ("silo", silo.Id));
        w.Family("gid_silo_cpu_percent", "Process CPU use as Orleans' runtime statistics report it.");
        foreach (var silo in s.Silos.Where(x => x.CpuPercent != null))
            w.Sample("gid_silo_cpu_percent", silo.CpuPercent!.Value, ("silo", silo.Id));
        w.Family("gid_silo_working_set_bytes", "Process working set.");
        foreach (var silo in s.Silos.Where(x => x.WorkingSetMb != null))
            w.Sample("gid_silo_working_set_bytes", Math.Round(silo.WorkingSetMb!.Value * 1048576), ("silo", silo.Id));
        w.Family("gid_silo_activations", "Grain activations on the silo.");
        foreach (var silo in s.Silos)
            w.Sample("gid_silo_activations", silo.Activations, ("silo", silo.Id));
        w.Family("gid_silo_video_grains", "Video grain activations on the silo.");
        foreach (var silo in s.Silos)
            w.Sample("gid_silo_video_grains", silo.VideoGrains, ("silo", silo.Id));

        w.Family("gid_jobs", "Jobs shown on the dashboard (recent and active), by kind and state.");
        foreach (var g in s.Jobs.Select(j => (j.Kind, j.State)).Concat(s.Runs.Select(r => (Kind: "training", r.State))).GroupBy(x => x).OrderBy(g => g.Key))
            w.Sample("gid_jobs", g.Count(), ("kind", g.Key.Item1), ("state", g.Key.Item2));
        w.Family("gid_grains", "Video grains of those jobs, by state.");
        foreach (var (state, count) in s.GrainTotals)
            w.Sample("gid_grains", count, ("state", state));
        w.Family("gid_job_videos_per_minute", "Videos finished per minute over the last five minutes, per job.");
        foreach (var j in s.Jobs.Where(j => j.Videos > 0))
            w.Sample("gid_job_videos_per_minute", j.VideosPerMinute, ("job", j.Id));
        w.Family("gid_grains_done_window", "Grains finished within the last gid_grains_done_window_seconds.");
        w.Sample("gid_grains_done_window", s.Throughput.DonePerBucket.Sum());
        w.Family("gid_grains_done_window_seconds", "Length of that window (one to ten minutes, following the work in view).");
        w.Sample("gid_grains_done_window_seconds", s.Throughput.WindowSeconds);

        w.Family("gid_training_loss", "Latest recorded training loss per run.");
        foreach (var r in s.Runs.Where(r => r.Loss != null))
            w.Sample("gid_training_loss", r.Loss!.Values[^1], ("run", r.Id));
        w.Family("gid_training_steps_per_second", "Latest recorded training step rate per run.");
        foreach (var r in s.Runs.Where(r => r.StepRate != null))
            w.Sample("gid_training_steps_per_second", r.StepRate!.Values[^1], ("run", r.Id));
        w.Family("gid_training_checkpoints", "Checkpoint steps stored per run.");
        foreach (var r in s.Runs)
            w.Sample("gid_training_checkpoints", r.Checkpoints.Count, ("run", r.Id));

        w.Family("gid_dashboard_collect_milliseconds", "Time the last snapshot took to collect from the grains.");
        w.Sample("gid_dashboard_collect_milliseconds", s.CollectMs);
        var text = new StringBuilder(w.ToString());
        orleans?.Write(text);
        return text.ToString();
    }

    /// <summary>A label value, escaped as the format asks.</summary>
    public static string Escape(string v) => v.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");

    public static string Format(double v) =>
        double.IsNaN(v) ? "NaN" : double.IsPositiveInfinity(v) ? "+Inf" : double.IsNegativeInfinity(v) ? "-Inf" : v.ToString("R", CultureInfo.InvariantCulture);

    private sealed class Writer
    {
        private readonly StringBuilder _text = new();

        public void Family(string name, string help) =>
            _text.Append("# HELP ").Append(name).Append(' ').Append(help.Replace("\\", "\\\\").Replace("\n", "\\n")).Append('\n')
                .Append("# TYPE ").Append(name).Append(" gauge\n");

        public void Sample(string name, double value, params (string Name, string Value)[] labels)
        {
            _text.Append(name);
            if (labels.Length > 0)
                _text.Append('{').AppendJoin(',', labels.Select(l => $"{l.Name}=\"{Escape(l.Value)}\"")).Append('}');
            _text.Append(' ').Append(Format(value)).Append('\n');
        }

        public override string ToString() => _text.ToString();
    }
}
