using GidCluster.Inference.Motion;
using static TorchSharp.torch;

namespace GidCluster.Inference.Tests;

public sealed class ModalDynamicsTests
{
    private static readonly double[] Frequencies = Enumerable.Range(0, 16).Select(k => k * 30.0 / 149).ToArray();

    /// <summary>A smooth random volume <c>[16, 4, 24, 32]</c> with amplitudes falling with k, as real spectra do.</summary>
    private static Tensor Volume(long seed)
    {
        var g = new Generator((ulong)seed);
        using var coarse = randn([16, 4, 3, 4], dtype: ScalarType.Float64, generator: g);
        using var falloff = tensor(Enumerable.Range(0, 16).Select(k => 150.0 / (1 + k)).ToArray(), dtype: ScalarType.Float64).reshape(16, 1, 1, 1);
        using var smooth = nn.functional.interpolate(coarse, size: [24, 32], mode: InterpolationMode.Bilinear, align_corners: false);
        return smooth * falloff;
    }

    [Fact]
    public void After_release_energy_decays_monotonically_with_damping()
    {
        using var volume = Volume(1);
        using var sim = new ModalDynamics(volume, Frequencies, 149, decayPerSecond: 0.8);
        sim.Drag(10, 12, 3, -2);
        for (var i = 0; i < 15; i++) sim.Step(1 / 30.0);
        sim.Release();
        var energies = new List<double> { sim.Energy() };
        for (var i = 0; i < 300; i++)
        {
            sim.Step(1 / 30.0);
            energies.Add(sim.Energy());
        }
        Assert.True(energies[0] > 0);
        for (var i = 1; i < energies.Count; i++)
            Assert.True(energies[i] <= energies[i - 1] * (1 + 1e-12), $"energy rose at step {i}: {energies[i - 1]} → {energies[i]}");
        Assert.True(energies[^1] < energies[0] * 1e-3, $"after 10 s: {energies[^1]} of {energies[0]}");
    }

    [Fact]
    public void Without_damping_energy_is_conserved_within_one_percent_over_ten_seconds()
    {
        using var volume = Volume(2);
        using var sim = new ModalDynamics(volume, Frequencies, 149, decayPerSecond: 0);
        sim.Drag(20, 5, -4, 1);
        for (var i = 0; i < 10; i++) sim.Step(1 / 30.0);
        sim.Release();
        var e0 = sim.Energy();
        var (min, max) = (e0, e0);
        for (var i = 0; i < 300; i++)
        {
            sim.Step(1 / 30.0);
            min = Math.Min(min, sim.Energy());
            max = Math.Max(max, sim.Energy());
        }
        Assert.True(sim.Time > 10);
        Assert.True(max / e0 - 1 < 0.01 && 1 - min / e0 < 0.01, $"energy {e0} ranged {min}…{max}");
        // Much coarser steps too: the exact per-mode update does not gain or lose energy with the step size.
        for (var i = 0; i < 20; i++) sim.Step(0.5);
        Assert.InRange(sim.Energy() / e0, 0.99, 1.01);
    }

    [Fact]
    public void A_drag_along_d_at_p_first_moves_p_along_d_and_a_held_drag_settles_at_d()
    {
        using var volume = Volume(3);
        using var sim0 = new ModalDynamics(volume, Frequencies, 149, decayPerSecond: 1.0);
        var rng = new Random(5);
        for (var trial = 0; trial < 20; trial++)
        {
            using var sim = new ModalDynamics(volume, Frequencies, 149, decayPerSecond: 1.0);
            var (x, y) = (rng.Next(32), rng.Next(24));
            var angle = rng.NextDouble() * 2 * Math.PI;
            var (dx, dy) = (3 * Math.Cos(angle), 3 * Math.Sin(angle));
            sim.Drag(x, y, dx, dy);
            sim.Step(1 / 60.0);
            var (fx, fy) = sim.DisplacementAt(x, y);
            Assert.True(fx * dx + fy * dy > 0, $"trial {trial}: first move ({fx}, {fy}) against d ({dx}, {dy})");
            // Held long enough, the point comes to rest displaced by exactly |d| along d (the gain's definition).
            for (var i = 0; i < 1200; i++) sim.Step(1 / 30.0);
            (fx, fy) = sim.DisplacementAt(x, y);
            Assert.InRange((fx * dx + fy * dy) / 3, 3 - 0.01, 3 + 0.01);
        }
    }

    [Fact]
    public void The_field_is_the_same_sum_as_at_one_pixel_and_bad_settings_are_refused()
    {
        using var volume = Volume(4);
        using var sim = new ModalDynamics(volume, Frequencies, 149, decayPerSecond: 0.5);
        sim.Drag(5, 6, 2, 2);
        for (var i = 0; i < 7; i++) sim.Step(1 / 30.0);
        using var field = sim.Displacements();
        var values = field.data<float>().ToArray();
        var (fx, fy) = sim.DisplacementAt(7, 9);
        Assert.Equal(fx, values[9 * 32 + 7], 3);
        Assert.Equal(fy, values[24 * 32 + 9 * 32 + 7], 3);
        Assert.Throws<ArgumentOutOfRangeException>(() => sim.Drag(32, 0, 1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ModalDynamics(volume, Frequencies, 149, decayPerSecond: 2.0));
    }
}
