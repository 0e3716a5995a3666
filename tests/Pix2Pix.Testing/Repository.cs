namespace Pix2Pix.Testing;

/// <summary>Paths in this repository, found from the running test's folder.</summary>
public static class Repository
{
    public static readonly string Root = FindRoot();

    /// <summary>Release or Debug, as the tests were built.</summary>
    public static string BuildConfiguration =>
        AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Debug" : "Release";

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
            if (File.Exists(Path.Combine(directory.FullName, "Pix2Pix.Service.sln"))) return directory.FullName;
        throw new InvalidOperationException("The repository root (Pix2Pix.Service.sln) was not found above the test folder.");
    }
}
