namespace GidCluster.Dataprep.Shards;

/// <summary>
/// Area resizing of CHW float planes with the windows of PyTorch's <c>adaptive_avg_pool2d</c> (output cell i averages
/// input cells ⌊i·in/out⌋ … ⌈(i+1)·in/out⌉ − 1 on each axis), so the loader's resize matches what inference does
/// with tensors. The windows mirror onto themselves, so resizing commutes with a horizontal flip.
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

    private static (int Start, int End)[] Windows(int size, int outSize) =>
        Enumerable.Range(0, outSize).Select(i => ((int)((long)i * size / outSize), (int)(((long)(i + 1) * size + outSize - 1) / outSize))).ToArray();
}
