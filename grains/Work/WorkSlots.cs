using Microsoft.Extensions.Logging;

namespace GidCluster.Grains.Work;

/// <summary>
/// The silo's pool of work slots. A video's pipeline runs for minutes, so grains never run it
/// themselves: they hand it here and return. Each item runs on the thread pool, off the Orleans
/// scheduler, at most <see cref="Slots"/> at once (queued beyond that), and reports its outcome
/// back to its grain with a grain call. Activations stay free to answer status calls meanwhile.
/// </summary>
public sealed class WorkSlots(int slots, ILogger<WorkSlots> logger) : IDisposable
{
    private readonly SemaphoreSlim _gate = new(slots, slots);
    private readonly CancellationTokenSource _stopping = new();
    private readonly CancellationTokenSource _draining = new();
    private int _queued;
    private int _busy;
    private int _unreported;
    private long _done;

    /// <summary>The silo metadata key that tells jobs how many slots a silo has, so they hand it no more videos than it can run.</summary>
    public const string MetadataKey = "gid.work-slots";

    /// <summary>Default size: one slot per core (each pipeline run computes on one thread, so results never depend on the core count).</summary>
    public static int DefaultSlots => Math.Max(1, Environment.ProcessorCount);

    public int Slots { get; } = slots;

    public int Busy => Volatile.Read(ref _busy);

    public int Queued => Volatile.Read(ref _queued);

    public long Done => Interlocked.Read(ref _done);

    /// <summary>Queues <paramref name="work"/>; <paramref name="report"/> gets its result or its exception (never both, always once unless the silo stops).</summary>
    public void Run<T>(string name, Func<CancellationToken, Task<T>> work, Func<T?, Exception?, Task> report)
    {
        Interlocked.Increment(ref _queued);
        // Task.Run: the default scheduler, not the calling activation's.
        _ = Task.Run(async () =>
        {
            try
            {
                await _gate.WaitAsync(_draining.Token);
            }
            catch (OperationCanceledException)
            {
                Interlocked.Decrement(ref _queued);
                logger.LogInformation("not starting {Work}: the silo is stopping; its grain's reminder runs it elsewhere", name);
                return;
            }
            // Until the grain has the outcome: a drain waits for this, not only for the work.
            Interlocked.Increment(ref _unreported);
            Interlocked.Decrement(ref _queued);
            try
            {
                await RunAndReportAsync(name, work, report);
            }
            finally
            {
                Interlocked.Decrement(ref _unreported);
            }
        });
    }

    private async Task RunAndReportAsync<T>(string name, Func<CancellationToken, Task<T>> work, Func<T?, Exception?, Task> report)
    {
        T? result = default;
        Exception? error = null;
        Interlocked.Increment(ref _busy);
        try
        {
            logger.LogInformation("running {Work}", name);
            result = await work(_stopping.Token);
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            return;
        }
        catch (Exception e)
        {
            error = e;
        }
        finally
        {
            Interlocked.Decrement(ref _busy);
            _gate.Release();
        }
        Interlocked.Increment(ref _done);
        // The grain may be mid-move (its silo is stopping or the call times out): retry a few times,
        // after which the grain's reminder re-drives the work.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await report(result, error);
                return;
            }
            catch (Exception e) when (attempt < 5 && !_stopping.IsCancellationRequested)
            {
                logger.LogWarning("reporting {Work} failed (try {Try}): {Error}", name, attempt, e.Message);
                await Task.Delay(TimeSpan.FromSeconds(attempt));
            }
            catch (Exception e)
            {
                logger.LogWarning("reporting {Work} failed; its grain's reminder will run it again: {Error}", name, e.Message);
                return;
            }
        }
    }

    /// <summary>
    /// The silo is stopping (SIGTERM): work not yet started is dropped (its grain's reminder runs it elsewhere), running
    /// work gets up to <paramref name="limit"/> to finish and report, and what is still running then is cancelled.
    /// Returns how many items were running when the drain began.
    /// </summary>
    public async Task<int> DrainAsync(TimeSpan limit, CancellationToken cancel)
    {
        _draining.Cancel();
        var running = Busy;
        logger.LogInformation("draining: {Running} running, up to {Limit} s to finish", running, limit.TotalSeconds);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (Volatile.Read(ref _unreported) > 0 && clock.Elapsed < limit && !cancel.IsCancellationRequested)
            await Task.Delay(100, CancellationToken.None);
        if (Volatile.Read(ref _unreported) > 0)
            logger.LogWarning("drained for {Limit} s with {Running} still running: cancelling them; their grains' reminders run them elsewhere", limit.TotalSeconds, Busy);
        else
            logger.LogInformation("drained in {Seconds:0.0} s", clock.Elapsed.TotalSeconds);
        Stop();
        return running;
    }

    /// <summary>Cancels queued and running work (the silo is stopping).</summary>
    public void Stop()
    {
        _draining.Cancel();
        _stopping.Cancel();
    }

    public void Dispose()
    {
        Stop();
        _stopping.Dispose();
        _draining.Dispose();
    }
}
