using System.Globalization;

namespace GidCluster.Training.Trainer;

/// <summary>
/// Rank 0's progress bar on stderr: redrawn in place on a terminal; on a pipe (a launcher, CI) one line per tenth
/// of the run and at the end, so logs stay short.
/// </summary>
internal sealed class ProgressLine(TextWriter writer, long total, bool enabled)
{
    private const int Width = 30;
    private readonly bool _terminal = ReferenceEquals(writer, Console.Error) && !Console.IsErrorRedirected;
    private long _lastPrinted = -1;
    private bool _open;

    public void Update(StepMetrics m)
    {
        if (!enabled) return;
        var filled = (int)(Width * m.Step / Math.Max(1, total));
        var text = string.Create(CultureInfo.InvariantCulture,
            $"[{new string('#', filled)}{new string('.', Width - filled)}] step {m.Step}/{total} loss {m.Loss:F5} lr {m.LearningRate:G3} {m.SamplesPerSecond:F2} samples/s {m.StepsPerSecond:F2} step/s");
        if (_terminal)
        {
            writer.Write("\r" + text);
            _open = true;
        }
        else if (m.Step == total || m.Step * 10 / Math.Max(1, total) != _lastPrinted * 10 / Math.Max(1, total))
        {
            writer.WriteLine(text);
            _lastPrinted = m.Step;
        }
    }

    public void Done()
    {
        if (_open) writer.WriteLine();
        _open = false;
    }
}
