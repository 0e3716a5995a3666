using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;

namespace Pix2Pix.Bench;

/// <summary>
/// Clients on <c>POST /models/{id}/translate</c> of a running service: for each <c>--clients N:S</c>, N clients send the
/// image one request after another for S seconds; on 503 a client waits its Retry-After, as a well-behaved client
/// does. One JSON line per round: the status codes (<c>503+RA</c>: with Retry-After), 200s per second, p50 and p99 of
/// the 200s' latency. The clients share the machine with the service: compare rounds of one run only.
/// </summary>
public static class LoadBenchmark
{
    public static int Run(BenchArguments arguments)
    {
        var url = arguments.String("url") ?? throw new ArgumentException("--url http://host:port is required");
        var model = arguments.String("model") ?? throw new ArgumentException("--model ID is required");
        var image = File.ReadAllBytes(arguments.String("image") ?? throw new ArgumentException("--image FILE.png is required"));
        var query = arguments.String("query") is { } q ? "?" + q : "";
        using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = int.MaxValue })
        {
            BaseAddress = new Uri(url), Timeout = TimeSpan.FromMinutes(2),
        };
        if (arguments.String("key") is { } key) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        foreach (var round in arguments.List("clients", "1:20,8:20,48:20"))
        {
            var parts = round.Split(':');
            RunRound(client, $"models/{model}/translate{query}", image,
                int.Parse(parts[0], CultureInfo.InvariantCulture), TimeSpan.FromSeconds(double.Parse(parts[1], CultureInfo.InvariantCulture))).GetAwaiter().GetResult();
        }
        return 0;
    }

    private static async Task RunRound(HttpClient client, string path, byte[] image, int clients, TimeSpan duration)
    {
        var results = new List<(string Code, double Seconds)>();
        var stopAt = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var started = Stopwatch.GetTimestamp();

        async Task Client()
        {
            while (Stopwatch.GetTimestamp() < stopAt)
            {
                long begin = Stopwatch.GetTimestamp();
                string code;
                TimeSpan? retryAfter = null;
                try
                {
                    using var content = new ByteArrayContent(image);
                    content.Headers.ContentType = new MediaTypeHeaderValue("image/png");
                    using var response = await client.PostAsync(path, content);
                    await response.Content.ReadAsByteArrayAsync();
                    retryAfter = response.Headers.RetryAfter?.Delta;
                    code = ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture) + (retryAfter is null ? "" : "+RA");
                }
                catch (HttpRequestException e)
                {
                    code = "error:" + (e.HttpRequestError.ToString());
                }
                var seconds = Stopwatch.GetElapsedTime(begin).TotalSeconds;
                lock (results) results.Add((code, seconds));
                if (retryAfter is { } wait) await Task.Delay(wait);
            }
        }

        await Task.WhenAll(Enumerable.Range(0, clients).Select(_ => Task.Run(Client)));
        var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var ok = results.Where(r => r.Code == "200").Select(r => r.Seconds).Order().ToList();
        double? Quantile(double p) => ok.Count == 0 ? null : Math.Round(ok[Math.Min(ok.Count - 1, (int)(p * ok.Count))] * 1000, 1);
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            command = "load", clients, seconds = Math.Round(elapsed, 1),
            codes = results.GroupBy(r => r.Code).OrderBy(g => g.Key).ToDictionary(g => g.Key, g => g.Count()),
            ok_per_s = Math.Round(ok.Count / elapsed, 2), p50_ms = Quantile(0.5), p99_ms = Quantile(0.99),
        }));
    }
}
