using System.Numerics;
using GidCluster.Dataprep.OpenCv;
using GidCluster.Dataprep.Pipeline;
using GidCluster.Dataprep.Samples;
using GidCluster.Dataprep.Synthetic;
using GidCluster.TestSupport;
using Xunit;

namespace GidCluster.Dataprep.Tests;

/// <summary>Acceptance on synthetic videos with known motion (0.2–5 px, 0.2–3 Hz).</summary>
public class SyntheticAccuracyTests(SyntheticFixture synth) : IClassFixture<SyntheticFixture>
{
    private sealed class ListSink : ISampleSink
    {
        public List<Sample> Samples { get; } = [];
        public void Write(Sample sample) => Samples.Add(sample);
    }

    [Fact]
    public void Sidecar_states_the_parameters_and_true_spectrum_at_the_oscillation_bins()
    {
        var json = File.ReadAllText(Path.ChangeExtension(synth.Video, ".json"));
        Assert.Contains("\"frequency_hz\"", json);
        // The true spectrum of a bin-aligned cosine is A·N/2·e^{i(φ + 2πk/N)} at its bin k (start frame 0).
        var region = synth.Scene.Regions[0];
        var osc = region.X[0];
        var k = (int)Math.Round(osc.FrequencyHz * 149 / 30);
        var coefficient = synth.Sidecar.Spectra[0].X[k];
        var expected = Complex.FromPolarCoordinates(osc.AmplitudePx * 149 / 2, osc.PhaseRad + 2 * Math.PI * k / 149);
        if (region.X.Count == 1)
        {
            Assert.Equal(expected.Real, coefficient[0], 6);
            Assert.Equal(expected.Imaginary, coefficient[1], 6);
        }
        Assert.InRange(osc.FrequencyHz, 0.2, 3.05);
        Assert.InRange(osc.AmplitudePx, 0.2, 2.5);
    }

    [Fact]
    public void Default_flow_has_mean_end_point_error_below_0_2_px_in_moving_regions()
    {
        var score = FlowEvaluation.Evaluate(synth.Scene, synth.Video, new DataprepOptions().Flow, 256, 160,
            [1, 7, 20, 37, 60, 90, 120, 149], threads: 2);
        Assert.True(score.Pixels > 5000, $"too few moving pixels scored: {score.Pixels}");
        Assert.True(score.MeanEpe < 0.2, $"mean EPE {score.MeanEpe:0.000} px (p95 {score.P95Epe:0.000})");
    }

    [Fact]
    public void Recovered_coefficients_at_the_true_bins_are_within_5_percent_and_0_1_rad()
    {
        var sink = new ListSink();
        var report = VideoDataprep.Process(synth.Video, new DataprepOptions { MaxClips = 1 }, sink);
        Assert.Equal(VideoStatus.Ok, report.Status);
        var sample = Assert.Single(sink.Samples);
        Assert.Equal(0, sample.StartFrame);
        Assert.Equal(16 * 4 * 160 * 256, sample.SpectralVolume.Length);
        Assert.Empty(sample.Quality.Flags);
        const int plane = 160 * 256;
        var checkedBins = 0;
        for (var r = 0; r < synth.Scene.Regions.Count; r++)
        {
            var pixels = new List<int>();
            for (var y = 0; y < 160; y++)
            {
                for (var x = 0; x < 256; x++)
                {
                    if (synth.Scene.InteriorRegionAt(0, x, y, 4) == r)
                        pixels.Add(y * 256 + x);
                }
            }
            var truth = synth.Scene.TrueCoefficients(r, 0);
            var region = synth.Scene.Regions[r];
            foreach (var (axis, oscillations) in new[] { (0, region.X), (1, region.Y) })
            {
                foreach (var o in oscillations)
                {
                    var k = (int)Math.Round(o.FrequencyHz * 149 / 30);
                    var sum = Complex.Zero;
                    foreach (var p in pixels)
                    {
                        var b = k * 4 * plane + 2 * axis * plane + p;
                        sum += new Complex((double)sample.SpectralVolume[b], (double)sample.SpectralVolume[b + plane]);
                    }
                    var est = sum / pixels.Count;
                    var tru = new Complex(truth[axis, k].Re, truth[axis, k].Im);
                    var ampError = Math.Abs(est.Magnitude / tru.Magnitude - 1);
                    var phaseError = Math.Abs(Math.IEEERemainder(est.Phase - tru.Phase, 2 * Math.PI));
                    Assert.True(ampError < 0.05 && phaseError < 0.1,
                        $"region {r} axis {"xy"[axis]} bin {k} (A={o.AmplitudePx:0.00} px, f={o.FrequencyHz:0.00} Hz): |S| {est.Magnitude:0.0} vs {tru.Magnitude:0.0} ({ampError:P1}), phase error {phaseError:0.000} rad");
                    checkedBins++;
                }
            }
        }
        Assert.True(checkedBins >= 6);
    }

    /// <summary>The spectral volume equals numpy's FFT of the very flows it was computed from, to fp16 rounding.</summary>
    [Fact]
    public void Spectral_volume_equals_numpy_fft_of_the_same_flows()
    {
        var options = new DataprepOptions { ConsistencyStride = 0 };
        const int n = 149, plane = 160 * 256;
        var flows = new float[n * plane * 2];
        var frames = new List<FrameSlot>();
        try
        {
            using (var reader = new ResampledFrames(synth.Video, options))
            {
                for (var i = 0; i <= n; i++)
                {
                    var slot = new FrameSlot(256, 160, 256, 160);
                    frames.Add(slot);
                    Assert.True(reader.Next(slot));
                }
            }
            using var processor = new ClipProcessor(options);
            processor.FlowObserver = (t, f) => f.CopyTo(flows.AsSpan((t - 1) * plane * 2, plane * 2));
            var result = processor.Process(frames.Select(f => f.Gray).ToList(), new double[n + 1]);

            using var dir = Paths.NewTempDir();
            var flowFile = Path.Combine(dir.Path, "flows.f32");
            var volumeFile = Path.Combine(dir.Path, "volume.f16");
            var bytes = new byte[flows.Length * 4];
            Buffer.BlockCopy(flows, 0, bytes, 0, bytes.Length);
            File.WriteAllBytes(flowFile, bytes);
            Programs.RunPython("""
                import sys, numpy as np
                disp = np.fromfile(sys.argv[1], np.float32).reshape(149, 160, 256, 2)
                spec = np.fft.fft(disp, axis=0)[:16]
                vol = np.stack([spec[..., 0].real, spec[..., 0].imag, spec[..., 1].real, spec[..., 1].imag], axis=1)
                vol.astype(np.float16).tofile(sys.argv[2])
                """, [flowFile, volumeFile], TimeSpan.FromMinutes(2));
            var reference = File.ReadAllBytes(volumeFile);
            Assert.Equal(result.SpectralVolume.Length * 2, reference.Length);
            int exact = 0, maxUlp = 0;
            for (var i = 0; i < result.SpectralVolume.Length; i++)
            {
                var ours = (short)BitConverter.HalfToUInt16Bits(result.SpectralVolume[i]);
                var theirs = BitConverter.ToInt16(reference, 2 * i);
                var ulp = Math.Abs(Ordered(ours) - Ordered(theirs));
                if (ulp == 0) exact++;
                maxUlp = Math.Max(maxUlp, ulp);
            }
            // Both round a float64 DFT to fp16; only values within ~1e-12 of a rounding tie may land one ulp apart.
            Assert.True(maxUlp <= 1, $"max difference {maxUlp} fp16 ulps");
            Assert.True(exact >= result.SpectralVolume.Length - 50, $"{result.SpectralVolume.Length - exact} values differ by one ulp");
        }
        finally
        {
            foreach (var f in frames)
                f.Dispose();
        }

        // fp16 bit patterns as a monotonic integer line (negative values mirrored), so ulp distance is a difference.
        static int Ordered(short bits) => bits < 0 ? -(bits & 0x7FFF) : bits;
    }
}
