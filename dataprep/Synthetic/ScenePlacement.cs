namespace GidCluster.Dataprep.Synthetic;

/// <summary>
/// Places layers at random without overlap: rejection sampling of bounding boxes inside the
/// frame, kept <c>gap</c> px apart. When the asked number does not fit, smaller proposals are tried, then
/// fewer layers are placed, and the notes say so (a scene generator never fails on its layout).
/// </summary>
internal static class ScenePlacement
{
    private const int AttemptsPerScale = 1000;
    private static readonly double[] Scales = [1, 0.8, 0.64];

    /// <param name="propose">A random candidate at a size scale (1 = as designed).</param>
    /// <param name="build">Makes the layer of an accepted candidate (called at once, so it may draw from the same generator).</param>
    public static List<T> Place<TCandidate, T>(int count, int width, int height, Func<double, TCandidate> propose,
        Func<TCandidate, (double X0, double Y0, double X1, double Y1)> bounds, Func<TCandidate, T> build, double gap, out List<string> notes)
    {
        if (count < 0)
            throw new ArgumentOutOfRangeException(nameof(count), count, "the number of layers cannot be negative");
        notes = [];
        var placed = new List<T>();
        var boxes = new List<(double X0, double Y0, double X1, double Y1)>();
        var shrunk = false;
        foreach (var scale in Scales)
        {
            for (var attempt = 0; placed.Count < count && attempt < AttemptsPerScale; attempt++)
            {
                var candidate = propose(scale);
                var b = bounds(candidate);
                if (b.X0 < 0 || b.Y0 < 0 || b.X1 > width || b.Y1 > height)
                    continue;
                if (boxes.Any(o => b.X0 - o.X1 < gap && o.X0 - b.X1 < gap && b.Y0 - o.Y1 < gap && o.Y0 - b.Y1 < gap))
                    continue;
                boxes.Add(b);
                placed.Add(build(candidate));
                shrunk |= scale < 1;
            }
        }
        if (placed.Count < count)
            notes.Add($"placed {placed.Count} of {count} layers: no room for more without overlap in {width}x{height}");
        else if (shrunk)
            notes.Add($"shrank some layers to fit {count} in {width}x{height}");
        return placed;
    }
}
