"""Translation engines behind one interface (`base.Engine`)."""
