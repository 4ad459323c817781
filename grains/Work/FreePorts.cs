using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace GidCluster.Grains.Work;

/// <summary>
/// Free ports, for listeners that need a number up front (Orleans' endpoints, a rank rendezvous): a TCP port that is
/// free now, for a listener started a moment later. Drawn below Linux's ephemeral range
/// (32768–60999): a port the OS hands out for port 0 is also what it hands to outgoing connections, so another
/// process could take it before our listener binds (seen as "Address already in use" in a parallel test run). A port is
/// handed out once per process.
/// </summary>
public static class FreePorts
{
    private const int First = 20000, End = 32768;
    private static readonly ConcurrentDictionary<int, bool> Given = new();

    public static int Next()
    {
        for (var attempt = 0; attempt < 1000; attempt++)
        {
            var port = Random.Shared.Next(First, End);
            if (!Given.TryAdd(port, true))
                continue;
            try
            {
                using var listener = new TcpListener(IPAddress.Any, port);
                listener.Start();
                return port;
            }
            catch (SocketException)
            {
                // In use: draw another.
            }
        }
        throw new IOException($"no free TCP port found in {First}–{End - 1} after 1000 tries");
    }
}
