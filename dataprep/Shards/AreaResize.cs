namespace GidCluster.Dataprep.Shards;

/// <summary>
/// Area resizing of CHW float planes with the windows of PyTorch's <c>adaptive_avg_pool2d</c> (output cell i averages
/// input cells ⌊i·in/out⌋ … ⌈(i+1)·in/out⌉ − 1 on each axis), so the loader's resize of training samples and the
/// demo's of predicted volumes match libtorch's (up or down). The windows mirror onto themselves, so resizing commutes with a horizontal flip.
/// </summary>
public static class AreaResize
{
    /// <summary><paramref name="channels"/> planes of <paramref name="height"/>×<paramref name="width"/> → new planes of the output size (the input itself when the size is unchanged).</summary>
    public static float[] Planes(float[] source, int channels, int height, int width, int outHeight, int outWidth)
    {
        if (source.Length != channels * height * width)
            throw new ArgumentException($"{source.Length} values are not {channels} planes of {height}x{width}", nameof(source));
        if (outHeight <= 0 || outWidth <= 0)
            throw new ArgumentException($"output size {outWidth}x{outHeight} must be positive");
        if (outHeight == height && outWidth == width)
            return source;
        var rows = Windows(height, outHeight);
        var cols = Windows(width, outWidth);
        var result = new float[channels * outHeight * outWidth];
        var rowSums = new double[width];
        for (var c = 0; c < channels; c++)
        {
            var plane = source.AsSpan(c * height * width, height * width);
            for (var oy = 0; oy < outHeight; oy++)
            {
                var (y0, y1) = rows[oy];
                Array.Clear(rowSums);
                for (var y = y0; y < y1; y++)
                {
                    var row = plane.Slice(y * width, width);
                    for (var x = 0; x < width; x++)
                        rowSums[x] += row[x];
                }
                for (var ox = 0; ox < outWidth; ox++)
                {
                    var (x0, x1) = cols[ox];
                    double sum = 0;
                    for (var x = x0; x < x1; x++)
                        sum += rowSums[x];
                    result[(c * outHeight + oy) * outWidth + ox] = (float)(sum / ((y1 - y0) * (x1 - x0)));
                }
            }
        }
        return result;
    }

    /// <summary>
    /// A raw spectral volume <c>[K, 4, H, W]</c> (Re x, Im x, Re y, Im y per bin) at the output size, its displacements
    /// scaled by the size ratio (x by the widths', y by the heights') so they stay in pixels of the new size.
    /// </summary>
    public static float[] Volume(float[] raw, int height, int width, int outHeight, int outWidth)
    {
        var planes = raw.Length / (height * width);
        if (planes % 4 != 0 || planes * height * width != raw.Length)
            throw new ArgumentException($"{raw.Length} values are not a [K, 4, {height}, {width}] volume", nameof(raw));
        var volume = Planes(raw, planes, height, width, outHeight, outWidth);
        if (outHeight == height && outWidth == width)
            return volume;
        var (sx, sy) = ((float)outWidth / width, (float)outHeight / height);
        var plane = outHeight * outWidth;
        for (var p = 0; p < planes; p++)
        {
            var factor = p % 4 < 2 ? sx : sy;
            foreach (ref var v in volume.AsSpan(p * plane, plane))
                v *= factor;
        }
        return volume;
    }

    private static (int Start, int End)[] Windows(int size, int outSize) =>
        Enumerable.Range(0, outSize).Select(i => ((int)((long)i * size / outSize), (int)(((long)(i + 1) * size + outSize - 1) / outSize))).ToArray();
}
