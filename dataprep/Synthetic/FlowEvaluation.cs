using System.Diagnostics;
using GidCluster.Dataprep.OpenCv;
using GidCluster.Dataprep.Pipeline;

namespace GidCluster.Dataprep.Synthetic;

/// <summary>End-point error of one flow setting on one synthetic video, and its cost.</summary>
public sealed record FlowScore(string Method, int FlowWidth, int FlowHeight, double MeanEpe, double P95Epe, double MsPerFlow, int Flows, long Pixels);

/// <summary>
/// Measures flow end-point error against a synthetic scene's exact displacements, in the moving
/// regions (pixels at least <c>margin</c> px inside a region, away from occlusion edges), at the
/// output resolution, for flows from the start frame directly to frames start+t.
/// </summary>
public static class FlowEvaluation
{
    /// <summary>
    /// Flow at <paramref name="flowWidth"/>×<paramref name="flowHeight"/>, scored at the output resolution
    /// <paramref name="width"/>×<paramref name="height"/> (default: the scene's); the scene's true
    /// displacements are rescaled to it.
    /// </summary>
    public static FlowScore Evaluate(SyntheticScene scene, string video, FlowParams flow, int flowWidth, int flowHeight,
        IReadOnlyList<int> offsets, int start = 0, double margin = 4, int threads = 0, int width = 0, int height = 0)
    {
        if (width == 0) (width, height) = (scene.Width, scene.Height);
        var scale = (double)scene.Width / width;
        var options = new DataprepOptions
        {
            Width = width,
            Height = height,
            FlowWidth = flowWidth,
            FlowHeight = flowHeight,
            Flow = flow,
        };
        options.Validate();
        var needed = start + offsets.Max();
        var frames = new List<FrameSlot>();
        try
        {
            using (var reader = new ResampledFrames(video, options))
            {
                for (var i = 0; i <= needed; i++)
                {
                    var slot = new FrameSlot(flowWidth, flowHeight, width, height);
                    frames.Add(slot);
                    if (!reader.Next(slot))
                        throw new InvalidDataException($"{video} has only {i} frames, need {needed + 1}");
                }
            }
            // Output pixel centres mapped into scene pixels.
            var interior = new int[width * height];
            var weight = new double[width * height];
            for (var y = 0; y < height; y++)
            {
                for (var x = 0; x < width; x++)
                {
                    var (r, qx, qy) = scene.Locate(start, (x + 0.5) * scale - 0.5, (y + 0.5) * scale - 0.5, margin * scale);
                    interior[y * width + x] = r;
                    weight[y * width + x] = r < 0 ? 0 : scene.Regions[r].Weight(qx, qy);
                }
            }
            if (threads > 0)
                Cv2.SetNumThreads(threads);
            using var engine = new ScaledFlowEngine(flow, flowWidth, width, height);
            using var result = new Mat();
            var errors = new List<double>();
            var clock = new Stopwatch();
            foreach (var t in offsets)
            {
                clock.Start();
                var f = engine.Calc(frames[start].Gray, frames[start + t].Gray, result);
                clock.Stop();
                var moves = Enumerable.Range(0, scene.Regions.Count).Select(r => scene.Flow(r, 1, start, t)).ToArray();
                for (var p = 0; p < interior.Length; p++)
                {
                    var r = interior[p];
                    if (r < 0)
                        continue;
                    var ex = f[2 * p] - weight[p] * moves[r].X / scale;
                    var ey = f[2 * p + 1] - weight[p] * moves[r].Y / scale;
                    errors.Add(Math.Sqrt(ex * ex + ey * ey));
                }
            }
            errors.Sort();
            return new FlowScore(flow.ToString(), flowWidth, flowHeight, errors.Average(), errors[(int)(0.95 * (errors.Count - 1))],
                clock.Elapsed.TotalMilliseconds / offsets.Count, offsets.Count, errors.Count);
        }
        finally
        {
            foreach (var f in frames)
                f.Dispose();
        }
    }
}
