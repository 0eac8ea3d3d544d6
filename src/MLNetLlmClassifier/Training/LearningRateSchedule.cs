namespace MLNetLlmClassifier.Training;

/// <summary>How the learning rate decays after warmup.</summary>
public enum LearningRateSchedule
{
    /// <summary>Half a cosine from the peak down to zero at the last step (Hugging Face's <c>cosine</c>).</summary>
    Cosine,
    /// <summary>Straight line from the peak down to zero at the last step (Hugging Face's <c>linear</c>).</summary>
    Linear,
    /// <summary>The peak learning rate throughout, after warmup.</summary>
    Constant,
}

/// <summary>Warmup then decay, as a pure function of the step (the Hugging Face schedules).</summary>
internal static class LearningRate
{
    /// <summary>
    /// The learning rate for optimizer step <paramref name="step"/> (0-based): linear warmup from
    /// 0 over <paramref name="warmupSteps"/> steps, then the chosen decay to 0 at <paramref name="totalSteps"/>.
    /// </summary>
    public static double At(long step, long totalSteps, long warmupSteps, double peak, LearningRateSchedule schedule)
    {
        if (warmupSteps > 0 && step < warmupSteps)
            return peak * (step + 1) / warmupSteps; // HF starts at 0 at step 0; +1 so the first update is not wasted
        if (schedule == LearningRateSchedule.Constant) return peak;
        double progress = totalSteps <= warmupSteps ? 1.0 : (double)(step - warmupSteps) / (totalSteps - warmupSteps);
        progress = Math.Clamp(progress, 0, 1);
        return schedule switch
        {
            LearningRateSchedule.Cosine => peak * 0.5 * (1 + Math.Cos(Math.PI * progress)),
            LearningRateSchedule.Linear => peak * (1 - progress),
            _ => peak,
        };
    }
}
